"""Spool: bounded on disk, evicts context first and never alerts, replays in priority order, survives restart,
and deletes a file only when its packet is acknowledged, so a crash at any point of a replay loses nothing."""
import pytest

from edge.transmit.base import packet_key
from edge.transmit.dat.spool import Spool
from vigil.v1 import vigil_pb2 as pb


def pkt(prio, seq, sev=0.5, size=1000, t=0.0, cam="c1"):
    p = pb.FramePacket(camera_id=cam, sequence=seq, priority=prio, capture_time=t, jpeg=b"x" * size)
    p.hints.severity = sev
    return p


def test_bounded_evicts_context_then_evidence_never_alerts(tmp_path):
    sp = Spool(tmp_path, max_bytes=10_000)
    for i in range(4):
        sp.put(pkt(pb.CONTEXT, 100 + i, size=2000))
    sp.put(pkt(pb.EVIDENCE, 200, size=3000))
    sp.put(pkt(pb.SEMANTIC_FRAME, 300, size=2000))
    evicted = sp.put(pkt(pb.ALERT_METADATA, 1, size=100))
    assert sp.bytes <= 10_000
    assert all(e.priority == pb.CONTEXT for e in evicted)
    for i in range(60):  # a long outage of alerts: more than the bound, all kept
        sp.put(pkt(pb.ALERT_METADATA, 2 + i, size=300))
    assert sp.count(pb.ALERT_METADATA) == 61
    assert sp.count(pb.CONTEXT) == 0 and sp.count(pb.EVIDENCE) == 0 and sp.count(pb.SEMANTIC_FRAME) == 0
    assert sp.overflow_bytes > 0


def test_replay_in_priority_then_severity_order_and_survives_restart(tmp_path):
    sp = Spool(tmp_path, max_bytes=1_000_000)
    sp.put(pkt(pb.CONTEXT, 1, t=0.0))
    sp.put(pkt(pb.EVIDENCE, 2, sev=0.9, t=1.0))
    sp.put(pkt(pb.SEMANTIC_FRAME, 3, sev=0.2, t=2.0))
    sp.put(pkt(pb.SEMANTIC_FRAME, 4, sev=0.9, t=3.0))
    sp.put(pkt(pb.ALERT_METADATA, 5, sev=0.1, t=4.0))
    again = Spool(tmp_path, max_bytes=1_000_000)   # the edge restarted
    out = again.replay()
    assert [p.sequence for p in out] == [5, 4, 3, 2, 1]
    assert all(p.replayed for p in out)
    assert again.replay() == []                      # handed out once per replay
    for p in out:
        assert again.done(packet_key(p))
    assert len(Spool(tmp_path)) == 0 and not list(tmp_path.iterdir())


def test_replay_keeps_files_until_each_packet_is_acknowledged(tmp_path):
    sp = Spool(tmp_path)
    for i in range(5):
        sp.put(pkt(pb.SEMANTIC_FRAME, i + 1))
    out = sp.replay()
    assert len(out) == 5 and len(sp) == 5 and sp.waiting == 0
    assert len(list(tmp_path.glob("*.pkt"))) == 5    # a replay deletes nothing
    sp.done(packet_key(out[0]))
    assert len(list(tmp_path.glob("*.pkt"))) == 4
    assert not sp.done(packet_key(out[0]))           # a second Ack for it (a duplicate) is harmless


@pytest.mark.parametrize("acked_before_crash", range(0, 7))
def test_a_crash_at_any_point_of_a_replay_loses_nothing_and_resends_only_the_unacknowledged(tmp_path, acked_before_crash):
    sp = Spool(tmp_path)
    for i in range(6):
        sp.put(pkt(pb.ALERT_METADATA if i % 3 == 0 else pb.EVIDENCE, i + 1, sev=i / 10))
    every = sorted(packet_key(p) for p in sp.replay())
    acked = set(every[:acked_before_crash])
    for k in acked:
        sp.done(k)
    del sp                                            # SIGKILL: nothing else runs
    resent = {packet_key(p) for p in Spool(tmp_path).replay()}
    assert resent == set(every) - acked               # exactly what the cloud has not acknowledged, once each


def test_a_packet_back_from_a_dropped_replay_is_not_written_twice(tmp_path):
    sp = Spool(tmp_path)
    sp.put(pkt(pb.ALERT_METADATA, 1))
    (p,) = sp.replay()
    assert sp.put(p) == []                            # the link dropped again: back to waiting, same file
    assert len(sp) == 1 and sp.waiting == 1 and len(list(tmp_path.glob("*.pkt"))) == 1
    assert [q.sequence for q in sp.replay()] == [1]


def test_handed_out_packets_are_not_evicted(tmp_path):
    sp = Spool(tmp_path, max_bytes=5_000)
    sp.put(pkt(pb.CONTEXT, 1, size=3000))
    (ctx,) = sp.replay()
    sp.put(pkt(pb.CONTEXT, 2, size=3000))             # over the bound: the waiting one goes, not the one in flight
    assert len(sp) == 1 and sp.done(packet_key(ctx))
