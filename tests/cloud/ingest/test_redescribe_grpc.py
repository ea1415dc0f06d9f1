"""A second description over real gRPC to a real signed-webhook receiver: an escalation after the first
description gives one `redescribed` stage (reason escalation); an end whose best snapshot is materially
better gives one (reason end); an end whose snapshot adds nothing gives none. Each alert is complete
without it, and every stage reaches the receiver once."""
import asyncio
import time

import cv2
import grpc
import numpy as np

from cloud.answer.describe_queue import is_second
from cloud.config import load_cloud_config
from cloud.service import CloudService
from tests.helpers.cloud_fakes import FakeEngine
from testkit.stages import complete
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc
from vigil_tools.webhook_echo import WebhookReceiver

SECRET = "redescribe-secret"
HELLO = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token", agent_version="t"))
ONSET = time.time()
SMALL_BOX, BIG_BOX = (10, 10, 20, 30), (5, 5, 60, 45)


def _jpeg():
    img = np.zeros((48, 64, 3), np.uint8)
    cv2.rectangle(img, (10, 10), (40, 40), (0, 200, 0), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _packet(event, seq, priority, stage, box=SMALL_BOX, **lifecycle):
    image = dict(jpeg=_jpeg(), width=64, height=48) if priority == pb.SEMANTIC_FRAME else {}
    x1, y1, x2, y2 = box
    return pb.EdgeMessage(frame=pb.FramePacket(
        camera_id="door", sequence=seq, run_id="run-1", capture_time=time.time(), event_onset=ONSET,
        event_id=event, priority=priority, source_width=64, source_height=48, **image,
        detections=[pb.Detection(box=pb.Box(x1=x1, y1=y1, x2=x2, y2=y2), label="person", score=0.9, track_id=1)],
        hints=pb.SemanticHints(counts={"person": 1}, severity=0.7, camera_name="door", event_stage=stage,
                               **lifecycle)))


def _new(event, seq):
    return [_packet(event, seq, pb.ALERT_METADATA, "new"), _packet(event, seq + 1, pb.SEMANTIC_FRAME, "new")]


def _end(event, seq, box):
    """The end notice, then the best snapshot the edge sends with it (a semantic frame flagged end)."""
    return [_packet(event, seq, pb.ALERT_METADATA, "end", ended_at=ONSET + 4.0, duration_s=4.0),
            _packet(event, seq + 1, pb.SEMANTIC_FRAME, "end", box=box, ended_at=ONSET + 4.0, duration_s=4.0)]


async def _run(url, first, then, delay=0.05, gap=0.6):
    """``first`` is sent, then ``then`` ``gap`` seconds later (the first descriptions, ``delay`` each, are
    done by then unless ``gap`` is shorter)."""
    cfg = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0, "evidence_request_after_s": 0.2},
        "alerts": {"webhooks": [{"url": url, "secret": SECRET}], "describe_deadline_s": 10.0, "outbox_path": None},
        "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}})
    engine = FakeEngine(delay=delay)
    svc = CloudService(cfg, engine=engine)
    port = await svc.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = pb_grpc.IngestStub(ch).Stream()
            for m in [HELLO, *first]:
                await call.write(m)
            await asyncio.sleep(gap)
            for m in then:
                await call.write(m)
            await asyncio.sleep(0.6 + delay)
            assert await svc.drain(12)
            await call.done_writing()
            async for _ in call:
                pass
    finally:
        await svc.stop()
    return engine, svc


def test_escalation_and_a_better_end_are_described_again_once_and_an_end_adding_nothing_is_not():
    rx = WebhookReceiver(SECRET, quiet=True).start()
    try:
        first = [*_new("escalates", 1), *_new("better-end", 3), *_new("same-end", 5)]
        then = [_packet("escalates", 20, pb.SEMANTIC_FRAME, "update", escalation="zone"),
                _packet("escalates", 20, pb.SEMANTIC_FRAME, "update", escalation="zone"),   # resent: one stage
                *_end("better-end", 21, BIG_BOX), *_end("same-end", 23, SMALL_BOX)]
        engine, svc = asyncio.run(_run(rx.url, first, then))
    finally:
        rx.stop()
    by_event = {stages[0]["event_id"]: stages for stages in rx.stages().values()}
    names = {e: [s["stage"] for s in stages] for e, stages in by_event.items()}
    assert names["escalates"] == ["detected", "described", "updated", "redescribed"], names
    assert names["better-end"] == ["detected", "described", "ended", "redescribed"], names
    assert names["same-end"] == ["detected", "described", "ended"], names
    assert all(complete(n) for n in names.values()) and rx.duplicates == 0
    again = {e: s[-1] for e, s in by_event.items() if s[-1]["stage"] == "redescribed"}
    assert {e: (s["redescribe_reason"], s["sequence"]) for e, s in again.items()} == {
        "escalates": ("escalation", 20), "better-end": ("end", 22)}
    assert all(s["description_status"] == "ok" and s["description"]["summary"] for s in again.values())
    # the model was asked 3 first descriptions and 2 second ones, the second ones as such
    assert sorted(is_second(r.request_id) for r in engine.requests) == [False, False, False, True, True]
    assert svc.service.stats["redescribed"] == 2


def test_an_escalation_while_the_first_description_is_computed_is_described_after_it():
    rx = WebhookReceiver(SECRET, quiet=True).start()
    try:
        then = [_packet("slow", 20, pb.SEMANTIC_FRAME, "update", escalation="dwell")]
        engine, _ = asyncio.run(_run(rx.url, _new("slow", 1), then, delay=0.8, gap=0.3))
    finally:
        rx.stop()
    ((stages),) = rx.stages().values()
    assert [s["stage"] for s in stages] == ["detected", "updated", "described", "redescribed"]
    assert (stages[-1]["redescribe_reason"], stages[-1]["sequence"]) == ("escalation", 20)
    assert [is_second(r.request_id) for r in engine.requests] == [False, True]
