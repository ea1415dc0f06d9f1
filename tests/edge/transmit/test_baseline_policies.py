"""The two deployable baselines beside DAT: adaptive FIFO (coalescing, Ack-clocked, DAT's ladder)
and priority (DAT's classes with a fixed rate and window)."""
import numpy as np

from edge.detection import Detection
from edge.transmit.base import OutgoingItem
from edge.transmit.config import PriorityConfig, TransmitConfig
from edge.transmit.fifo_adaptive import AdaptiveFifoPolicy
from edge.transmit.priority import PriorityPolicy
from edge.transmit.registry import make_policy
from vigil.v1 import vigil_pb2 as pb


def _item(cam="c", ev="e", stage="update", t=1.0, w=640, h=272):
    img = np.random.default_rng(int(t * 10)).integers(0, 255, (h, w, 3), dtype=np.uint8)
    return OutgoingItem(camera_id=cam, event_id=ev, priority=pb.SEMANTIC_FRAME, image=img, capture_time=t,
                        event_onset=1.0, detections=[Detection(100, 50, 250, 200, "person", 0.9, 3)],
                        hints={"counts": {"person": 1}, "event_stage": stage}, severity=0.7)


def test_registry_builds_every_policy_by_name():
    for name in ("fifo", "fifo_adaptive", "priority", "dat"):
        assert make_policy(TransmitConfig(policy=name)).name == name


def test_adaptive_fifo_keeps_one_waiting_frame_per_event_and_never_drops_an_event():
    p = AdaptiveFifoPolicy()
    p.offer(_item(ev="e1", stage="new", t=1.0), 1.0)
    first = p.next_packet(1.0)
    assert first.event_id == "e1" and p.next_packet(1.0) is None      # one unacknowledged frame per camera
    for t in (1.25, 1.5, 1.75):
        p.offer(_item(ev="e1", t=t), t)                                # coalesced into one waiting frame
    p.offer(_item(ev="e2", stage="new", t=2.0), 2.0)                   # another event waits, not replaced
    assert p.pending() == 2 and p.stats["coalesced"] == 2
    p.on_ack(pb.Ack(camera_id="c", sequence=first.sequence, receive_time=1.2, edge_sent_time=1.0), 1.3)
    second = p.next_packet(2.1)
    assert second.event_id == "e1" and second.capture_time == 1.75     # the newest frame of e1
    p.on_ack(pb.Ack(camera_id="c", sequence=second.sequence, receive_time=2.2, edge_sent_time=2.1), 2.3)
    assert p.next_packet(2.4).event_id == "e2"


def test_adaptive_fifo_shrinks_frames_when_the_link_is_slow_and_resends_after_disconnect():
    p = AdaptiveFifoPolicy()
    p.offer(_item(stage="new"), 1.0)
    pkt = p.next_packet(1.0)
    assert pkt.width < 640 and pkt.jpeg[:2] == b"\xff\xd8"              # 256 kbit/s assumed before any Ack
    assert not pkt.HasField("crop") and pkt.priority == pb.SEMANTIC_FRAME
    p.on_disconnect(2.0)
    again = p.next_packet(3.0)
    assert again.sequence == pkt.sequence and again.replayed


def test_priority_uses_dat_classes_with_a_fixed_rate_and_window():
    cfg = PriorityConfig(assumed_rate_bps=1_000_000, window_bytes=20_000)
    p = PriorityPolicy(cfg)
    p.offer(_item(cam="a", stage="new"), 1.0)
    p.offer(_item(cam="b", stage="new"), 1.0)
    sent = []
    while (pkt := p.next_packet(1.0)) is not None:
        sent.append(pkt)
    classes = [k.priority for k in sent]
    assert classes[:2] == [pb.ALERT_METADATA, pb.ALERT_METADATA] and pb.SEMANTIC_FRAME in classes
    assert p.estimator.inflight_bytes >= 20_000 - max(k.ByteSize() for k in sent)   # the fixed window binds
    assert p.rate(1.0) == p.rate(100.0) == 125_000                                  # never measured


def test_adaptive_fifo_event_frames_keep_the_evidence_floor_unless_it_is_off():
    from edge.transmit.config import AdaptiveFifoConfig
    floored = AdaptiveFifoPolicy()
    floored.offer(_item(stage="new"), 1.0)
    assert floored.next_packet(1.0).width == 480     # noise at 256 kbit/s: the floor's cheapest quality
    free = AdaptiveFifoPolicy(AdaptiveFifoConfig(evidence_min_width=0))
    free.offer(_item(stage="new"), 1.0)
    assert free.next_packet(1.0).width < 480
