"""The signed webhook a receiver gets when a model that cannot see images wrote the description: it
names the model and says it does not see, carries the edge's measurements instead of the model's
invented words, and keeps the threat level at 0. The same alarming answer from a model that sees
goes out as written (the negative control). Real gRPC in, real HTTP webhook out."""
import asyncio
import secrets
import time

import cv2
import grpc
import numpy as np
import pytest

from cloud.config import load_cloud_config
from cloud.answer.request import DescribeResult
from cloud.answer.schema import EventDescription
from cloud.service import CloudService
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc
from vigil_tools.webhook_echo import WebhookReceiver, format_alert

ALARMING = EventDescription(summary="A man is shot at a police car", threat_level=2,
                            objects=[{"label": "man", "count": 1}], action="shooting")


class AlarmingEngine:
    """Answers every event with the same alarming text, as a model that reads only the prompt might."""

    def __init__(self, name, sees_images):
        self.model_name, self.sees_images = name, sees_images

    async def describe(self, req):
        return DescribeResult(req.request_id, ALARMING.model_dump_json(), ALARMING, 10, 4, 5, 0, 1, 1)

    def backpressure(self):
        return 0.0


def _frame():
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes()
    return pb.EdgeMessage(frame=pb.FramePacket(
        camera_id="street", sequence=1, capture_time=time.time(), event_onset=time.time(), event_id="ev1",
        priority=pb.SEMANTIC_FRAME, jpeg=jpeg, width=64, height=48, source_width=64, source_height=48,
        detections=[pb.Detection(box=pb.Box(x1=4, y1=4, x2=30, y2=40), label="person", score=0.8, track_id=1)],
        hints=pb.SemanticHints(counts={"person": 1, "bicycle": 1}, zone="street", dwell_seconds=2.2000000476837,
                               severity=0.9, camera_name="Street")))


async def _deliver(engine, receiver, secret):
    cfg = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}, "api": {"enabled": False},
        "alerts": {"webhooks": [{"url": receiver.url, "secret": secret}], "outbox_path": None,
                   "describe_deadline_s": 5}})
    svc = CloudService(cfg, engine=engine)
    port = await svc.start()
    try:
        hello = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token", agent_version="t",
                                              cameras=[pb.CameraInfo(camera_id="street", name="Street")]))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = pb_grpc.IngestStub(ch).Stream()
            for m in (hello, _frame()):
                await call.write(m)
            for _ in range(200):
                await asyncio.sleep(0.05)
                if any(a["stage"] == "described" for v in receiver.stages().values() for a in v):
                    break
            await call.done_writing()
    finally:
        await svc.stop()
    return next(a for v in receiver.stages().values() for a in v if a["stage"] == "described")


@pytest.mark.parametrize("sees", [False, True], ids=["blind", "seeing-control"])
def test_webhook_marks_a_blind_model_and_keeps_its_threat_at_zero(sees):
    secret = secrets.token_hex(16)
    receiver = WebhookReceiver(secret, quiet=True).start()
    try:
        body = asyncio.run(_deliver(AlarmingEngine("smollm_llava" if not sees else "qwen-vl", sees), receiver, secret))
    finally:
        receiver.stop()
    assert body["description_status"] == "ok"
    assert body["model"]["sees_images"] is sees
    if sees:
        assert body["description"]["threat_level"] == 2 and body["description"]["summary"] == ALARMING.summary
        # it wrote no narrative: the payload carries one composed from its own fields
        assert body["description"]["narrative"] == "A man is shot at a police car."
        return
    assert body["model"]["name"] == "smollm_llava" and "cannot see" in body["model"]["note"]
    assert body["description"]["threat_level"] == 0
    assert body["description"]["summary"] == "Edge detected 1 × bicycle, 1 × person in zone street for 2.2 s"
    assert body["description"]["narrative"] == "The edge detected 1 bicycle and 1 person in zone street for 2.2 s."
    assert "police car" not in str(body) and "shooting" not in str(body)
    printed = format_alert(body)            # what `make demo` prints for it
    assert "cannot see images" in printed and "police car" not in printed
