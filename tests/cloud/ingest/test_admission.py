"""Admission control under overload: context is shed first, alerts are always admitted (degraded at worst)."""
import asyncio
import subprocess
import sys

import cv2
import grpc
import numpy as np
import pytest

from cloud.config import load_cloud_config
from cloud.engine.stub import FixedLatencyEngine
from cloud.ingest.admission import AdmissionBudget, Verdict
from cloud.service import CloudService
from tests.helpers.cloud_fakes import Collect
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

MIB = 1 << 20
HELLO = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token"))


# -- the pure policy ---------------------------------------------------------------------------
def test_context_is_shed_above_its_share_and_alerts_never_are():
    b = AdmissionBudget(budget_bytes=1000, context_share=0.5)
    assert b.decide(alert_bearing=False, nbytes=500).verdict is Verdict.ADMIT
    b.hold(450)
    assert b.decide(alert_bearing=False, nbytes=100).verdict is Verdict.SHED
    assert b.decide(alert_bearing=True, nbytes=100).verdict is Verdict.ADMIT
    b.hold(10_000)                                               # far over the whole budget
    assert b.decide(alert_bearing=True, nbytes=100).verdict is Verdict.DEGRADE
    assert all(b.decide(True, n).verdict is not Verdict.SHED for n in (0, 1, 10**9))
    assert "do not resend" in b.decide(False, 1).reason


def test_held_bytes_come_back_and_pressure_follows_them():
    b = AdmissionBudget(budget_bytes=1000, context_share=0.5)
    assert b.pressure() == 0.0
    b.hold(250)
    assert b.pressure() == 0.5
    b.hold(1000)
    assert b.pressure() == 1.0 and b.peak_bytes == 1250
    b.release(1250)
    assert b.held_bytes == 0 and b.decide(False, 400).verdict is Verdict.ADMIT
    with pytest.raises(ValueError):
        b.release(1)                                              # a double release is a bug, not a rounding


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        AdmissionBudget(0, 0.5)
    with pytest.raises(ValueError):
        AdmissionBudget(1000, 0.0)


def test_the_policy_imports_no_io_libraries():
    code = ("import sys, cloud.ingest.admission; bad = {'grpc', 'cv2', 'numpy', 'google.protobuf', 'torch'} & set(sys.modules);"
            "print(sorted(bad)); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# -- over real gRPC: a slow model holds decoded images, the budget fills ------------------------
def _jpeg(w, h):
    return cv2.imencode(".jpg", np.full((h, w, 3), 90, np.uint8))[1].tobytes()


def _frame(seq, priority, event=""):
    return pb.EdgeMessage(frame=pb.FramePacket(camera_id="cam-1", run_id="r", sequence=seq, event_id=event,
                                               priority=priority, jpeg=_jpeg(640, 480),
                                               hints=pb.SemanticHints(counts={"person": 1})))


def test_over_budget_context_is_acked_as_shed_and_every_alert_is_delivered():
    # Each 640x480 event frame is held decoded (921,600 bytes) while the model (2 s) works on it.
    # Budget 1 MiB, context below 0.5 MiB: after the first event frame context is shed; the
    # second event still fits whole; the third is over the budget and is degraded, not refused.
    async def go():
        cfg = load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0, "admission_budget_bytes": MIB, "admission_context_share": 0.5},
            "alerts": {"outbox_path": None, "describe_deadline_s": 10}})
        sink = Collect()
        svc = CloudService(cfg, engine=FixedLatencyEngine(2.0), sinks=[sink])
        port = await svc.start()
        try:
            acks = {}
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = pb_grpc.IngestStub(ch).Stream()
                await call.write(HELLO)
                messages = [_frame(1, pb.CONTEXT), _frame(2, pb.SEMANTIC_FRAME, "ev1"), _frame(3, pb.CONTEXT),
                            _frame(4, pb.SEMANTIC_FRAME, "ev2"), _frame(5, pb.SEMANTIC_FRAME, "ev3"),
                            _frame(6, pb.CONTEXT)]
                for m in messages:
                    await call.write(m)
                    while True:                                   # one at a time: the order is the test
                        r = await call.read()
                        if r.WhichOneof("body") == "ack":
                            acks[r.ack.sequence] = r.ack.admission
                            break
                await call.done_writing()
                while await call.read() is not grpc.aio.EOF:
                    pass
            await svc.drain(10)
            return acks, dict(svc.service.stats), svc.service.admission.held_bytes, sink.alerts, svc.metrics.render()
        finally:
            await svc.stop()
    acks, stats, held, alerts, metrics = asyncio.run(go())
    assert acks == {1: "", 2: "", 3: "shed", 4: "", 5: "degraded", 6: "shed"}
    assert stats["context_shed"] == 2 and stats["frames_degraded"] == 1 and stats["context_frames"] == 1
    stages = sorted((a.event_id, a.stage) for a in alerts)
    assert stages == [(e, s) for e in ("ev1", "ev2", "ev3") for s in ("described", "detected")]
    assert held == 0                                              # every held byte was given back
    text = metrics.decode()
    assert 'vigil_cloud_ingest_total{kind="context_shed"} 2.0' in text
    assert 'vigil_cloud_ingest_total{kind="frames_degraded"} 1.0' in text
    assert "vigil_cloud_admission_peak_bytes" in text


def test_a_degraded_frame_is_decoded_at_half_size_and_hints_carry_the_ingest_pressure():
    from cloud.alerts.manager import AlertManager
    from cloud.ingest.packets import decode_jpeg
    from cloud.ingest.service import IngestService
    assert decode_jpeg(_jpeg(640, 480)).shape == (480, 640, 3)
    assert decode_jpeg(_jpeg(640, 480), reduced=True).shape == (240, 320, 3)
    cfg = load_cloud_config(environ={}, overrides={"server": {"admission_budget_bytes": MIB},
                                                   "alerts": {"outbox_path": None}})
    svc = IngestService(cfg, FixedLatencyEngine(), AlertManager(lambda a: None, describe_deadline_s=5))
    try:
        assert svc._backpressure() == (0.0, "engine queue")
        svc.admission.hold(MIB // 4)                               # half of the context share
        assert svc._backpressure() == (0.5, "ingest memory budget")
        svc.refusal = lambda: "outbox /x/outbox.db: 0 bytes free"     # the storage-fault state refuses packets
        assert svc._backpressure() == (1.0, "cloud storage cannot write (outbox /x/outbox.db: 0 bytes free)")
    finally:
        svc.close()
