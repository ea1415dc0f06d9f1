"""Spool: bounded on disk, evicts context first and never alerts, replays in priority order, survives restart."""
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
    out = again.replay_all()
    assert [p.sequence for p in out] == [5, 4, 3, 2, 1]
    assert all(p.replayed for p in out)
    assert len(Spool(tmp_path)) == 0
