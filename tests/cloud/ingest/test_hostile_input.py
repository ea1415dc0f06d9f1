"""Hostile or broken input: clear per-packet errors, bounded work, and a legitimate edge keeps flowing."""
import asyncio
import os
import socket
import time

import cv2
import grpc
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.alerts.manager import AlertManager
from cloud.config import load_cloud_config
from cloud.engine.stub import FixedLatencyEngine
from cloud.ingest.packet_limits import MAX_LABELS, check_image, jpeg_dimensions
from cloud.ingest.service import IngestService
from cloud.service import CloudService
from tests.helpers.cloud_fakes import Collect
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

HELLO = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token"))


def _jpeg(w=64, h=48):
    return cv2.imencode(".jpg", np.full((h, w, 3), 90, np.uint8))[1].tobytes()


def _bomb(w=16000, h=16000):
    """A small valid JPEG whose frame header claims w x h pixels."""
    data = bytearray(_jpeg())
    i = 2
    while data[i + 1] not in (0xC0, 0xC2):
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
    data[i + 5:i + 7] = h.to_bytes(2, "big")
    data[i + 7:i + 9] = w.to_bytes(2, "big")
    return bytes(data)


def _frame(seq, jpeg=b"", event="ev", **hints):
    return pb.EdgeMessage(frame=pb.FramePacket(camera_id="cam-1", run_id="r", sequence=seq, event_id=event,
                                               priority=pb.SEMANTIC_FRAME, jpeg=jpeg,
                                               hints=pb.SemanticHints(**hints)))


def test_jpeg_header_is_read_without_decoding():
    assert jpeg_dimensions(_jpeg(64, 48)) == (64, 48)
    assert jpeg_dimensions(_bomb()) == (16000, 16000)
    assert jpeg_dimensions(b"\xff\xd8garbage") is None and jpeg_dimensions(b"") is None
    assert check_image(_bomb(), 10_000_000).code == "TOO_LARGE_IMAGE"


async def _service(**server):
    cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0, **server},
                                                   "alerts": {"outbox_path": None, "describe_deadline_s": 5}})
    sink = Collect()
    svc = CloudService(cfg, engine=FixedLatencyEngine(), sinks=[sink])
    return svc, await svc.start(), sink


async def _exchange(port, messages):
    replies = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = pb_grpc.IngestStub(ch).Stream()
        for m in messages:
            await call.write(m)
        await call.done_writing()
        async for r in call:
            if r.WhichOneof("body") in ("ack", "error"):
                replies.append(r)
    return replies


def test_bombs_and_oversized_fields_get_errors_and_the_stream_goes_on():
    async def go():
        svc, port, sink = await _service()
        try:
            t0 = time.time()
            replies = await _exchange(port, [HELLO, _frame(1, _bomb()), _frame(2, event="x" * 100_000),
                                             _frame(3, counts={f"l{i}": 1 for i in range(20_000)}),
                                             _frame(4, _jpeg(), counts={"person": 1})])
            took = time.time() - t0
            await svc.drain(5)
        finally:
            await svc.stop()
        return replies, took, sink
    replies, took, sink = asyncio.run(go())
    got = [(r.WhichOneof("body"), r.error.code if r.HasField("error") else r.ack.sequence) for r in replies]
    assert ("error", "TOO_LARGE_IMAGE") in got and ("error", "INVALID") in got
    errors = [r.error.message for r in replies if r.HasField("error")]
    assert any(f"limit of {MAX_LABELS}" in m for m in errors) and any("event_id has 100000" in m for m in errors)
    assert ("ack", 4) in got and took < 5
    assert [a.stage for a in sink.alerts] == ["detected", "described"]      # the good packet became an alert


def test_a_stream_that_never_says_hello_is_closed():
    async def go():
        svc, port, _ = await _service(hello_timeout_s=0.3)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = pb_grpc.IngestStub(ch).Stream()
                t0 = time.time()
                try:
                    await call.read()
                except grpc.aio.AioRpcError as exc:
                    return exc.code(), time.time() - t0
                code = await call.code()
                return code, time.time() - t0
        finally:
            await svc.stop()
    code, took = asyncio.run(go())
    assert code == grpc.StatusCode.UNAUTHENTICATED and took < 3


def test_huge_edge_id_is_rejected_without_echoing_it():
    async def go():
        svc, port, _ = await _service()
        try:
            hello = pb.EdgeMessage(hello=pb.Hello(edge_id="e" * 1_000_000, auth_token="t"))
            try:
                await _exchange(port, [hello])
            except grpc.aio.AioRpcError as exc:
                return exc
        finally:
            await svc.stop()
    exc = asyncio.run(go())
    assert exc.code() == grpc.StatusCode.UNAUTHENTICATED and len(exc.details()) < 200


def test_garbage_bytes_on_the_port_do_not_disturb_a_legitimate_edge():
    async def go():
        svc, port, sink = await _service()
        try:
            for payload in (os.urandom(4096), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(512)):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(payload)
                s.close()
            replies = await _exchange(port, [HELLO, _frame(1, _jpeg(), counts={"person": 1})])
            await svc.drain(5)
        finally:
            await svc.stop()
        return replies, sink
    replies, sink = asyncio.run(go())
    assert [r.WhichOneof("body") for r in replies] == ["ack"] and len(sink.alerts) == 2


# -- fuzzing the packet handler directly (no sockets: thousands of packets in seconds) --------------
_CFG = load_cloud_config(environ={}, overrides={"alerts": {"outbox_path": None}})

detections = st.builds(pb.Detection, label=st.text(max_size=80), score=st.floats(allow_nan=True),
                       track_id=st.integers(-2**63, 2**63 - 1),
                       box=st.builds(pb.Box, x1=st.floats(width=32), y1=st.floats(width=32),
                                     x2=st.floats(width=32), y2=st.floats(width=32)))
packets = st.builds(
    pb.FramePacket, camera_id=st.text(max_size=200), sequence=st.integers(0, 2**64 - 1), run_id=st.text(max_size=200),
    event_id=st.text(max_size=200), priority=st.sampled_from([0, 1, 2, 3, 4]),
    jpeg=st.one_of(st.binary(max_size=64), st.just(_jpeg()), st.just(_bomb())),
    width=st.integers(0, 2**32 - 1), height=st.integers(0, 2**32 - 1),
    source_width=st.integers(0, 2**32 - 1), source_height=st.integers(0, 2**32 - 1),
    capture_time=st.floats(), event_onset=st.floats(), detections=st.lists(detections, max_size=5),
    hints=st.builds(pb.SemanticHints, counts=st.dictionaries(st.text(max_size=70), st.integers(0, 2**32 - 1), max_size=70),
                    zone=st.text(max_size=300), severity=st.floats(width=32)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pkts=st.lists(packets, min_size=1, max_size=4), raw=st.binary(max_size=200))
def test_fuzzed_packets_always_get_one_answer_and_never_raise(pkts, raw):
    try:
        pkts = pkts + [pb.FramePacket.FromString(raw)]      # what a broken encoder might put on the wire
    except Exception:
        pass

    async def go():
        sink = []
        svc = IngestService(_CFG, FixedLatencyEngine(), AlertManager(sink.append, describe_deadline_s=5))
        out: asyncio.Queue = asyncio.Queue()
        answers = []
        for p in pkts:
            await svc._on_frame("demo-edge", p, out)
            got = []
            while not out.empty():
                got.append(out.get_nowait().WhichOneof("body"))
            answers.append(got)
        for t in list(svc._describe_tasks):
            t.cancel()
        svc.close()
        return answers
    for got in asyncio.run(go()):
        assert got.count("ack") + got.count("error") >= 1 and got.count("ack") <= 1
