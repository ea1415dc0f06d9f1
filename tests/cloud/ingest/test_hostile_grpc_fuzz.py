"""Fuzzed protobuf packets over real gRPC: a loopback cloud answers every packet and keeps serving.

The handler-level fuzz in test_hostile_input.py runs thousands of packets without sockets; this one
sends fewer, but through the real stack (serialization, HTTP/2, the servicer's stream loop, the
admission budget), one stream per example against one cloud that lives for the whole module.
"""
import asyncio
import threading
import time

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.config import load_cloud_config
from cloud.engine.stub import FixedLatencyEngine
from cloud.service import CloudService
from tests.cloud.ingest.test_hostile_input import HELLO, _jpeg, packets
from tests.helpers.cloud_fakes import Collect
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

STREAM_TIMEOUT_S = 20.0
WAIT_STEP_S, WAIT_STEPS = 0.1, 50


@pytest.fixture(scope="module")
def cloud():
    """A CloudService on its own event loop thread; yields (port, service, sink)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0},
                                                   "alerts": {"outbox_path": None, "describe_deadline_s": 5}})
    sink = Collect()
    svc = CloudService(cfg, engine=FixedLatencyEngine(), sinks=[sink])
    port = asyncio.run_coroutine_threadsafe(svc.start(), loop).result(30)
    try:
        yield port, svc, sink
    finally:
        asyncio.run_coroutine_threadsafe(svc.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _stream(port: int, frames: list[pb.FramePacket]) -> list[pb.CloudMessage]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        requests = iter([HELLO, *(pb.EdgeMessage(frame=f) for f in frames)])
        return list(pb_grpc.IngestStub(ch).Stream(requests, timeout=STREAM_TIMEOUT_S))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(pkts=st.lists(packets, min_size=1, max_size=4))
def test_fuzzed_packets_over_grpc_each_get_an_answer(cloud, pkts):
    port, svc, _ = cloud
    replies = _stream(port, pkts)
    kinds = [r.WhichOneof("body") for r in replies]
    assert kinds[0] == "welcome"
    answered = kinds.count("ack") + kinds.count("error")
    assert answered >= len(pkts) and kinds.count("ack") <= len(pkts), kinds
    assert svc.service.stats["internal_errors"] == 0


def test_after_the_fuzz_a_legitimate_edge_still_gets_its_alert(cloud):
    port, svc, sink = cloud
    frame = pb.FramePacket(camera_id="cam-ok", run_id="after-fuzz", sequence=1, event_id="ev-ok",
                           priority=pb.SEMANTIC_FRAME, jpeg=_jpeg(), hints=pb.SemanticHints(counts={"person": 1}))
    replies = _stream(port, [frame])
    assert [r.WhichOneof("body") for r in replies][:2] == ["welcome", "ack"]
    for _ in range(WAIT_STEPS):                 # the description comes from the cloud's loop thread
        if any(a.event_id == "ev-ok" and a.stage == "described" for a in sink.alerts):
            break
        time.sleep(WAIT_STEP_S)
    assert {a.stage for a in sink.alerts if a.event_id == "ev-ok"} == {"detected", "described"}
    assert svc.service.admission.held_bytes == 0
