"""The scale-out mode's decisions, as plain data: what is queued, admitted, claimed, buried."""
import subprocess
import sys
from pathlib import Path

from cloud.scale.policy import (PendingEntry, admit, backpressure, heartbeat_s, is_job, job_keeps_image,
                                packet_key, poison, takeover)
from vigil.v1 import vigil_pb2 as pb

ROOT = Path(__file__).resolve().parents[3]


def test_only_event_packets_become_jobs_and_only_model_frames_keep_their_jpeg():
    assert is_job(pb.FramePacket(event_id="e", priority=pb.ALERT_METADATA))
    assert is_job(pb.FramePacket(event_id="e", priority=pb.SEMANTIC_FRAME))
    assert not is_job(pb.FramePacket(event_id="e", priority=pb.CONTEXT))
    assert not is_job(pb.FramePacket(priority=pb.SEMANTIC_FRAME))          # no event: nothing to alert
    assert job_keeps_image(pb.FramePacket(priority=pb.SEMANTIC_FRAME))
    assert not job_keeps_image(pb.FramePacket(priority=pb.EVIDENCE))
    assert not job_keeps_image(pb.FramePacket(priority=pb.ALERT_METADATA))


def test_packet_key_separates_fields_and_runs():
    a = packet_key("v", "edge", "cam", "run1", 7)
    assert a != packet_key("v", "edge", "cam", "run2", 7)                   # a restarted edge is new work
    assert packet_key("v", "ab", "c", "r", 1) != packet_key("v", "a", "bc", "r", 1)
    assert packet_key("v", "a\x1fb", "c", "r", 1) != packet_key("v", "a", "b\x1fc", "r", 1)
    assert packet_key("v", 'a","b', "c", "r", 1) != packet_key("v", "a", 'b","c', "r", 1)   # ids are quoted
    assert a.startswith("v:seen:")


def test_admission_refuses_at_the_bound_with_a_clear_error():
    assert admit(0, 10).queue and admit(9, 10).queue
    full = admit(10, 10)
    assert not full.queue and full.code == "OVERLOADED"
    assert "max_backlog=10" in full.message and "resend" in full.message
    assert backpressure(0, 10) == 0.0 and backpressure(5, 10) == 0.5 and backpressure(50, 10) == 1.0


def test_poison_only_for_abandoned_entries_handed_out_too_often():
    pending = [PendingEntry("1-0", "w1", idle_ms=30_000, deliveries=5),   # abandoned, fifth time: poison
               PendingEntry("2-0", "w1", idle_ms=30_000, deliveries=2),   # abandoned, unlucky: claim again
               PendingEntry("3-0", "w2", idle_ms=100, deliveries=9)]      # still beating: leave it
    assert poison(pending, claim_idle_s=15, max_deliveries=5) == ["1-0"]
    assert poison(pending, claim_idle_s=15, max_deliveries=10) == []


def test_takeover_never_restarts_a_job_in_flight_here():
    assert takeover(["1-0", "2-0"], in_flight={"2-0"}) == ["1-0"]


def test_heartbeat_beats_several_times_per_claim_timeout():
    assert heartbeat_s(15.0) < 15.0 / 2


def test_policy_imports_no_redis_and_no_grpc():
    code = "import sys, cloud.scale.policy; print(sorted(m for m in ('redis', 'grpc') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
