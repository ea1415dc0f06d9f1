"""The edge's /metrics: counters move while the sample clip flows to a (fake-model) cloud, over real HTTP."""
import asyncio
import urllib.request

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from edge.metrics import serve
from edge.metrics_config import MetricsConfig
from tests.helpers import cloud_fakes as fakes


def _value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not exported")


def test_metrics_move_when_frames_flow():
    async def go():
        svc = CloudService(load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0}, "alerts": {"outbox_path": None},
            "api": {"enabled": False}, "store": {"path": None}}), engine=fakes.FakeEngine(), sinks=[])
        port = await svc.start()
        cfg = load_edge_config(environ={}, overrides={
            "cameras": [{"id": "cam-1", "url": "sample:bikes.mp4", "fps": 5}],
            "cloud": {"target": f"127.0.0.1:{port}", "results_grace_s": 5}})
        agent = EdgeAgent(cfg)
        server = serve(agent, MetricsConfig(host="127.0.0.1", port=0))
        url = f"http://127.0.0.1:{server.server_port}/metrics"

        def scrape():
            return urllib.request.urlopen(url, timeout=5).read().decode()
        before = await asyncio.to_thread(scrape)
        run = asyncio.create_task(agent.run())
        for _ in range(300):
            await asyncio.sleep(0.1)
            if agent.client.stats["packets_sent"] >= 2 and agent.stats["frames_read"] >= 30:
                break
        during = await asyncio.to_thread(scrape)
        agent.stop()
        await asyncio.wait_for(run, 30)
        server.shutdown()
        await svc.stop()
        return before, during

    before, during = asyncio.run(go())
    for series in ('vigil_edge_agent_total{kind="frames_read"}', 'vigil_edge_agent_total{kind="frames_gated"}',
                   'vigil_edge_client_total{kind="packets_sent"}', 'vigil_edge_client_total{kind="bytes_sent"}'):
        assert _value(during, series) > _value(before, series), series
    assert _value(during, 'vigil_edge_camera_state{camera="cam-1",state="streaming"}') == 1.0
    assert _value(during, 'vigil_edge_camera_fps{camera="cam-1"}') > 0
    assert 'vigil_edge_queue_depth{class="semantic_frame"}' in during
    assert "vigil_edge_spool_packets" in during and "vigil_edge_bandwidth_estimate_bytes_per_second" in during
