import numpy as np

from edge.detection import Detection
from edge.transmit.base import OutgoingItem
from edge.transmit.fifo import FifoPolicy
from vigil.v1 import vigil_pb2 as pb


def _item(cam="c", ev="e"):
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return OutgoingItem(camera_id=cam, event_id=ev, priority=pb.SEMANTIC_FRAME, image=img, capture_time=1.0,
                        event_onset=1.0, detections=[Detection(1, 2, 30, 40, "person", 0.9, 3)],
                        hints={"counts": {"person": 1}}, severity=0.7)


def test_arrival_order_full_frames_sequences_per_camera():
    p = FifoPolicy(jpeg_quality=90)
    for cam in ["a", "b", "a"]:
        p.offer(_item(cam), 0.0)
    pkts = [p.next_packet(1.0) for _ in range(3)]
    assert [(k.camera_id, k.sequence) for k in pkts] == [("a", 1), ("b", 1), ("a", 2)]
    assert all(k.width == 64 and k.height == 48 and k.jpeg[:2] == b"\xff\xd8" for k in pkts)
    assert pkts[0].detections[0].label == "person" and pkts[0].hints.severity > 0.69
    assert p.next_packet(1.0) is None and p.unacked() == 3


def test_unacked_packets_are_resent_after_disconnect_in_order():
    p = FifoPolicy()
    for _ in range(3):
        p.offer(_item(), 0.0)
    sent = [p.next_packet(1.0) for _ in range(3)]
    p.on_ack(pb.Ack(camera_id="c", sequence=sent[0].sequence, run_id=sent[0].run_id), 1.1)
    p.on_disconnect(2.0)
    again = [p.next_packet(3.0).sequence for _ in range(p.pending())]
    assert again == [2, 3]
