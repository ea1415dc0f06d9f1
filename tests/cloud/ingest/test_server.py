"""The gRPC ingest service over a real loopback port, with a fake engine (the real one has its own tests)."""
import asyncio
import time

import cv2
import grpc
import numpy as np
import pytest

from cloud.config import load_cloud_config
from cloud.service import CloudService
from tests.helpers.cloud_fakes import Collect, FakeEngine
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc


def _jpeg(w=64, h=48):
    img = np.zeros((h, w, 3), np.uint8)
    cv2.rectangle(img, (10, 10), (40, 40), (0, 200, 0), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _frame(seq, event="ev1", jpeg=None, camera="cam-1"):
    return pb.EdgeMessage(frame=pb.FramePacket(
        camera_id=camera, sequence=seq, capture_time=time.time(), event_onset=time.time(), event_id=event,
        priority=pb.SEMANTIC_FRAME, jpeg=_jpeg() if jpeg is None else jpeg, width=64, height=48,
        source_width=64, source_height=48,
        detections=[pb.Detection(box=pb.Box(x1=10, y1=10, x2=40, y2=40), label="person", score=0.9, track_id=1)],
        hints=pb.SemanticHints(counts={"person": 1}, severity=0.7, camera_name="door")))


HELLO = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token", agent_version="t"))


async def _session(engine, messages, *, max_packet=64 * 1024, deadline=5.0, settle=0.5, **alerts):
    cfg = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0, "max_packet_bytes": max_packet,
                   "transport_headroom_bytes": 4 * 1024 * 1024, "evidence_request_after_s": 0.2},
        "alerts": {"describe_deadline_s": deadline, "outbox_path": None, **alerts},
        "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}})
    sink = Collect()
    svc = CloudService(cfg, engine=engine, sinks=[sink])
    port = await svc.start()
    replies = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = pb_grpc.IngestStub(ch).Stream()
            for m in messages:
                await call.write(m)
            await asyncio.sleep(settle)
            await svc.drain(deadline + 2)
            await asyncio.sleep(0.1)
            await call.done_writing()
            async for r in call:
                replies.append(r)
    finally:
        await svc.stop()
    return replies, sink.alerts, svc


def _kinds(replies):
    return [r.WhichOneof("body") for r in replies]


def test_happy_path_two_stages_and_result():
    replies, alerts, _ = asyncio.run(_session(FakeEngine(), [HELLO, _frame(1), _frame(2)]))
    kinds = _kinds(replies)
    assert kinds[0] == "welcome" and kinds.count("ack") == 2 and "result" in kinds
    assert [a.stage for a in alerts] == ["detected", "described"]
    assert alerts[0].alert_id == alerts[1].alert_id and alerts[1].description["summary"] == "a person"


def test_wrong_token_is_unauthenticated():
    bad = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="nope"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        asyncio.run(_session(FakeEngine(), [bad]))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "wrong token" in err.value.details()


def test_corrupt_jpeg_gets_error_and_stream_goes_on():
    replies, alerts, svc = asyncio.run(_session(FakeEngine(), [HELLO, _frame(1, jpeg=b"\xff\xd8garbage"), _frame(2)]))
    errors = [r.error for r in replies if r.WhichOneof("body") == "error"]
    assert [e.code for e in errors] == ["CORRUPT_JPEG"] and errors[0].sequence == 1
    assert sum(1 for r in replies if r.WhichOneof("body") == "ack") == 2
    assert [a.stage for a in alerts] == ["detected", "described"]     # the good frame was described


def test_oversized_packet_gets_error_and_stream_goes_on():
    big = _frame(1, jpeg=b"\xff" * 100_000)
    replies, alerts, _ = asyncio.run(_session(FakeEngine(), [HELLO, big, _frame(2)]))
    errors = [r.error for r in replies if r.WhichOneof("body") == "error"]
    assert errors[0].code == "OVERSIZED" and "max_packet_bytes" in errors[0].message
    acks = [r.ack.sequence for r in replies if r.WhichOneof("body") == "ack"]
    assert acks == [2]


def test_duplicates_are_acked_but_processed_once():
    engine = FakeEngine()
    replies, alerts, svc = asyncio.run(_session(engine, [HELLO, _frame(1), _frame(1), _frame(1)]))
    acks = [r.ack for r in replies if r.WhichOneof("body") == "ack"]
    assert [a.duplicate for a in acks] == [False, True, True]
    assert len(engine.requests) == 1 and svc.service.stats["duplicates"] == 2


def test_slow_model_gives_timeout_stage():
    replies, alerts, _ = asyncio.run(_session(FakeEngine(delay=3.0), [HELLO, _frame(1)], deadline=0.5))
    assert [a.stage for a in alerts] == ["detected", "described"]
    assert alerts[1].description_status == "timeout"


def test_overload_is_a_timeout_with_its_reason_one_warning_and_nothing_computed_late(caplog):
    """One model slot, a queue of one, five events at once: the engine sees only what can finish in time;
    the rest end as timeout (overloaded: shed; deadline: never started), each told to the edge."""
    engine = FakeEngine(delay=0.6)
    frames = [_frame(i + 1, event=f"ev{i}") for i in range(5)]
    with caplog.at_level("INFO"):
        replies, alerts, svc = asyncio.run(_session(engine, [HELLO, *frames], deadline=1.5, settle=0.2,
                                                    describe_queue_size=1, describe_concurrency=1))
    described = [a for a in alerts if a.stage == "described"]
    assert len(described) == 5 and len({a.alert_id for a in described}) == 5
    ok = [a for a in described if a.description_status == "ok"]
    timed_out = [a for a in described if a.description_status == "timeout"]
    assert len(ok) == len(engine.requests) >= 1 and len(ok) + len(timed_out) == 5
    assert {a.timeout_reason for a in timed_out} <= {"overloaded", "deadline"} and timed_out
    assert any(a.timeout_reason == "overloaded" for a in timed_out)
    results = [r.result for r in replies if r.WhichOneof("body") == "result"]
    assert sorted(r.description_status for r in results) == sorted(a.description_status for a in described)
    assert any(r.hint.reason.startswith("describe queue:") for r in replies if r.WhichOneof("body") == "hint")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "no description for alert" in r.getMessage()]
    assert len(warnings) == len(timed_out) and all(r.exc_info is None for r in warnings)
    assert "late description" not in caplog.text
    q = svc.service.engine.queue_stats()   # what /metrics exports as vigil_cloud_describe_*
    assert q["shed"] == sum(a.timeout_reason == "overloaded" for a in timed_out) and q["depth"] == 0
    assert q["late"] >= 1 or all(a.timeout_reason == "overloaded" for a in timed_out)


def test_model_error_gives_error_stage():
    replies, alerts, _ = asyncio.run(_session(FakeEngine(fail=True), [HELLO, _frame(1)]))
    assert alerts[1].description_status == "error" and "model exploded" in alerts[1].description_error


def _evidence(seq, event="ev1"):
    msg = _frame(seq, event)
    msg.frame.priority = pb.EVIDENCE
    return msg


def test_cloud_asks_for_evidence_it_has_not_received():
    # ev2's evidence arrives after its description but within the grace period: not asked for.
    replies, _, svc = asyncio.run(_session(FakeEngine(), [HELLO, _frame(1, "ev1"), _frame(2, "ev2"), _evidence(3, "ev2")]))
    asked = [e for r in replies if r.WhichOneof("body") == "hint" for e in r.hint.evidence_event_ids]
    assert asked == ["ev1"] and svc.service.stats["evidence_requested"] == 1


def _hold_first_decode(monkeypatch):
    """Hold the first JPEG decode until released (later decodes run at once): (decoding, release) events."""
    import threading

    import cloud.ingest.service as server_mod

    decoding, release = threading.Event(), threading.Event()
    real_decode, calls = server_mod.decode_jpeg, []

    def held_decode(data):
        calls.append(1)
        if len(calls) == 1:
            decoding.set()
            release.wait(5.0)
        return real_decode(data)

    monkeypatch.setattr(server_mod, "decode_jpeg", held_decode)
    return decoding, release


def _plain_cloud():
    cfg = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0}, "alerts": {"outbox_path": None},
        "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}})
    engine, sink = FakeEngine(), Collect()
    return CloudService(cfg, engine=engine, sinks=[sink]), engine, sink


def test_packet_cut_off_mid_decode_is_processed_when_resent(monkeypatch):
    """The edge ends a session (its stall watchdog) while the cloud still decodes a packet: that packet
    was neither accepted nor acknowledged, so the edge's resend on the next session must be processed
    and described, not acknowledged as a duplicate of a packet the cloud never kept."""
    decoding, release = _hold_first_decode(monkeypatch)

    async def run():
        svc, engine, sink = _plain_cloud()
        port = await svc.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                first = pb_grpc.IngestStub(ch).Stream()
                await first.write(HELLO)
                await first.read()                                   # Welcome
                await first.write(_frame(1))
                assert await asyncio.to_thread(decoding.wait, 5.0)
                first.cancel()                                       # the session ends mid-decode
                for _ in range(100):
                    if not svc.service._sessions:
                        break
                    await asyncio.sleep(0.02)
                release.set()
                second = pb_grpc.IngestStub(ch).Stream()
                await second.write(HELLO)
                await second.write(_frame(1))                        # the edge's resend
                acks = []
                async for r in second:
                    if r.WhichOneof("body") == "ack":
                        acks.append(r.ack)
                        await svc.drain(5.0)
                        await second.done_writing()
            return acks, sink.alerts, engine
        finally:
            await svc.stop()

    acks, alerts, engine = asyncio.run(run())
    assert [a.duplicate for a in acks] == [False], "the resend was taken for a duplicate of a packet never kept"
    assert len(engine.requests) == 1
    assert [a.stage for a in alerts] == ["detected", "described"]


def test_resend_during_the_first_copys_decode_is_not_lost_when_the_first_session_ends(monkeypatch):
    """The edge reconnects and resends a packet while the cloud still decodes the first copy; then the first
    session ends. The resend must wait for the first copy's outcome: had it been acked as a duplicate at once,
    the first copy's cut-off would have left a packet acknowledged and never kept (an alert lost)."""
    decoding, release = _hold_first_decode(monkeypatch)

    async def run():
        svc, engine, sink = _plain_cloud()
        port = await svc.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                first = pb_grpc.IngestStub(ch).Stream()
                await first.write(HELLO)
                await first.read()                                   # Welcome
                await first.write(_frame(1))
                assert await asyncio.to_thread(decoding.wait, 5.0)
                second = pb_grpc.IngestStub(ch).Stream()
                await second.write(HELLO)
                await second.read()                                  # Welcome
                await second.write(_frame(1))                        # the resend, while copy 1 decodes
                await asyncio.sleep(0.3)
                first.cancel()                                       # then the first session ends
                await asyncio.sleep(0.2)
                release.set()
                acks = []
                while (r := await second.read()) is not grpc.aio.EOF:
                    if r.WhichOneof("body") == "ack":
                        acks.append(r.ack)
                        await svc.drain(5.0)
                        await second.done_writing()
            return acks, sink.alerts, engine
        finally:
            await svc.stop()

    acks, alerts, engine = asyncio.run(run())
    assert [a.duplicate for a in acks] == [False], "the resend was acked as a duplicate of a copy then cut off"
    assert len(engine.requests) == 1
    assert [a.stage for a in alerts] == ["detected", "described"]
