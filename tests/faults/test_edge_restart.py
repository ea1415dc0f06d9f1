"""Restarting an edge against a running cloud: its new packets are processed, its old run's replays are not."""
import asyncio

import grpc

from testkit.fault_procs import CloudProc, cloud_config, free_port, run_edge
from cloud.config import load_cloud_config
from cloud.engine.stub import FixedLatencyEngine
from cloud.service import CloudService
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc
from vigil_tools.webhook_echo import WebhookReceiver
from testkit.fault_procs import SECRET
from tests.helpers.cloud_fakes import Collect


def test_second_edge_process_gets_its_alerts(tmp_path):
    rx = WebhookReceiver(SECRET, quiet=True).start()
    port = free_port()
    cloud = CloudProc(tmp_path, port, cloud_config(port, rx.url, tmp_path / "outbox.db")).start()
    try:
        counts = []
        for run in range(2):
            done = run_edge(port, tmp_path, tmp_path / "spool")
            assert done.returncode == 0, done.stderr[-2000:]
            counts.append(len(rx.stages()))
    finally:
        cloud.stop()
        rx.stop()
    first, total = counts
    assert first > 0 and total == 2 * first, counts   # every event of the second run became an alert too
    for aid, stages in rx.stages().items():
        assert [s["stage"] for s in stages] == ["detected", "described"], aid


def _pkt(run_id, seq, event):
    return pb.EdgeMessage(frame=pb.FramePacket(camera_id="cam-1", run_id=run_id, sequence=seq, event_id=event,
                                               priority=pb.ALERT_METADATA, capture_time=1.0, event_onset=1.0,
                                               replayed=run_id == "old"))


def test_spooled_packets_of_an_old_run_are_deduplicated(tmp_path):
    async def go():
        cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0},
                                                       "alerts": {"outbox_path": None}})
        svc = CloudService(cfg, engine=FixedLatencyEngine(), sinks=[Collect()])
        port = await svc.start()
        acks = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = pb_grpc.IngestStub(ch).Stream()
                await call.write(pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token")))
                # old process: seq 1..2; it crashed before their Acks and its spool replays them in the new run
                for m in (_pkt("old", 1, "ev-old"), _pkt("old", 2, "ev-old"), _pkt("new", 1, "ev-new"),
                          _pkt("old", 1, "ev-old"), _pkt("old", 2, "ev-old"), _pkt("new", 2, "ev-new")):
                    await call.write(m)
                await call.done_writing()
                async for r in call:
                    if r.WhichOneof("body") == "ack":
                        acks.append((r.ack.run_id, r.ack.sequence, r.ack.duplicate))
        finally:
            await svc.stop()
        return acks, svc
    acks, svc = asyncio.run(go())
    assert acks == [("old", 1, False), ("old", 2, False), ("new", 1, False),
                    ("old", 1, True), ("old", 2, True), ("new", 2, False)]
