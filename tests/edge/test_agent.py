"""The agent keeps serving its good cameras while another camera is dead (real gRPC, fake model)."""
import asyncio

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from tests.helpers import cloud_fakes as fakes


def test_dead_camera_does_not_block_the_live_one():
    async def go():
        sink = fakes.Collect()
        svc = CloudService(load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0}, "alerts": {"outbox_path": None},
            "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}}),
            engine=fakes.FakeEngine(), sinks=[sink])
        port = await svc.start()
        cfg = load_edge_config(environ={}, overrides={
            "cameras": [{"id": "good", "url": "sample:bikes.mp4", "fps": 5},
                        # nothing listens on port 9: the camera keeps reconnecting with backoff
                        {"id": "dead", "url": "http://127.0.0.1:9/video.mjpg",
                         "reconnect": {"open_timeout_s": 0.5, "backoff_initial_s": 0.1, "backoff_max_s": 0.3}}],
            "cloud": {"target": f"127.0.0.1:{port}", "results_grace_s": 10}})
        agent = EdgeAgent(cfg)
        run = asyncio.create_task(agent.run())
        for _ in range(600):
            await asyncio.sleep(0.1)
            if agent.stats["frames_read"] >= 50 and agent.client.stats["results"] >= 1 \
                    and not agent.client.awaiting_results:
                break
        status = {s["camera_id"]: s for s in agent.camera_status()}
        agent.stop()
        summary = await asyncio.wait_for(run, 30)
        await svc.drain(5)
        await svc.stop()
        return summary, status, sink.alerts

    summary, status, alerts = asyncio.run(go())
    assert summary.frames_read >= 50 and summary.descriptions >= 1
    assert {a.stage for a in alerts} == {"detected", "described"}
    assert status["dead"]["reconnects"] >= 1 and status["dead"]["state"] != "streaming"


def test_end_of_event_is_handed_to_the_policy():
    import numpy as np

    from edge.detection import Detection
    from edge.events.event import Event, EventUpdate
    from edge.frame import Frame

    class Loop:  # stands in for the asyncio loop: run the hand-over at once
        def call_soon_threadsafe(self, fn, *args):
            fn(*args)

    agent = EdgeAgent(load_edge_config(environ={}, overrides={"transmit": {"policy": "fifo"}}))
    frame = Frame("cam-1", 0, 1.0, np.zeros((48, 64, 3), np.uint8))
    event = Event(event_id="ev", camera_id="cam-1", camera_name="door", onset=1.0, rule="object", severity=0.5,
                  stage="end")
    box = [Detection(1, 1, 20, 40, "person", 0.9, 1)]
    agent._hand_over(EventUpdate(event, "end", frame, box), Loop())
    agent._hand_over(EventUpdate(event, "update", frame, []), Loop())       # nothing to show
    agent._hand_over(EventUpdate(event, "end", None, []), Loop())           # no frame
    pkt = agent.policy.next_packet(2.0)
    assert pkt is not None and pkt.event_id == "ev" and pkt.hints.event_stage == "end"
    assert agent.policy.pending() == 0
