"""An object's life over real gRPC to a real signed-webhook receiver: new -> escalation -> end gives the
stages detected, updated, ended and described, each delivered exactly once, also when the edge resends
the update and the end to a restarted cloud (its acknowledgements were lost)."""
import asyncio
import time

import cv2
import grpc
import numpy as np

from cloud.config import load_cloud_config
from cloud.service import CloudService
from tests.helpers.cloud_fakes import FakeEngine
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc
from vigil_tools.webhook_echo import WebhookReceiver

SECRET = "stages-secret"
HELLO = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token", agent_version="t"))
ONSET = time.time()


def _jpeg():
    img = np.zeros((48, 64, 3), np.uint8)
    cv2.rectangle(img, (10, 10), (40, 40), (0, 200, 0), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _packet(seq, priority, stage, **lifecycle):
    image = dict(jpeg=_jpeg(), width=64, height=48) if priority == pb.SEMANTIC_FRAME else {}
    return pb.EdgeMessage(frame=pb.FramePacket(
        camera_id="door", sequence=seq, run_id="run-1", capture_time=time.time(), event_onset=ONSET,
        event_id="door-1", priority=priority, source_width=64, source_height=48, **image,
        detections=[pb.Detection(box=pb.Box(x1=10, y1=10, x2=40, y2=40), label="person", score=0.9, track_id=1)],
        hints=pb.SemanticHints(counts={"person": 1}, severity=0.7, camera_name="door", event_stage=stage,
                               **lifecycle)))


NEW = [_packet(1, pb.ALERT_METADATA, "new"), _packet(2, pb.SEMANTIC_FRAME, "new")]
UPDATE = _packet(5, pb.SEMANTIC_FRAME, "update", escalation="zone")
END = _packet(9, pb.ALERT_METADATA, "end", ended_at=ONSET + 4.0, duration_s=4.0)


async def _session(outbox, url, messages, engine_delay=0.0):
    cfg = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0, "evidence_request_after_s": 0.2},
        "alerts": {"webhooks": [{"url": url, "secret": SECRET}], "describe_deadline_s": 10.0,
                   "outbox_path": str(outbox)},
        "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}})
    svc = CloudService(cfg, engine=FakeEngine(delay=engine_delay))
    port = await svc.start()
    acks = 0
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = pb_grpc.IngestStub(ch).Stream()
            for m in messages:
                await call.write(m)
            await asyncio.sleep(0.5)
            assert await svc.drain(12)
            await call.done_writing()
            async for r in call:
                acks += r.WhichOneof("body") == "ack"
    finally:
        await svc.stop()
    return acks


def test_new_update_end_reach_the_receiver_once_each_in_order_even_when_resent_after_a_restart(tmp_path):
    rx = WebhookReceiver(SECRET, quiet=True).start()
    outbox = tmp_path / "outbox.db"
    try:
        # The description is slow (0.8 s): the object ends before it; `ended` does not wait for it.
        acks = asyncio.run(_session(outbox, rx.url, [HELLO, *NEW, UPDATE, END], engine_delay=0.8))
        assert acks == 4
        # The edge lost the acks of its last two packets and resends them to a restarted cloud.
        assert asyncio.run(_session(outbox, rx.url, [HELLO, UPDATE, END])) == 2
    finally:
        rx.stop()
    (stages,) = rx.stages().values()
    names = [s["stage"] for s in stages]
    assert sorted(names) == ["described", "detected", "ended", "updated"], names
    assert names.index("detected") == 0 and names.index("updated") < names.index("ended")
    assert names.index("ended") < names.index("described")   # the end did not wait for the slow model
    assert rx.duplicates == 0 and len(rx.received) == 4 and all(r.signature_ok for r in rx.received)
    by = {s["stage"]: s for s in stages}
    assert by["updated"]["escalation"] == "zone" and by["updated"]["sequence"] == 5
    assert by["ended"]["ended_at"] == ONSET + 4.0 and by["ended"]["duration_s"] == 4.0
    assert by["ended"]["merged_into"] == "" and by["ended"]["description_status"] == "pending"
    assert by["described"]["description_status"] == "ok"
    keys = {next(v for k, v in r.headers.items() if k.lower() == "webhook-id") for r in rx.received}
    aid = stages[0]["alert_id"]
    assert keys == {f"{aid}.detected", f"{aid}.updated.5", f"{aid}.ended", f"{aid}.described"}
