"""A packet the cloud refused without keeping it (OVERLOADED, INTERNAL) is sent again, same key,
once its backoff is over, by every policy; and the retry parts alone (pure)."""
import random

import numpy as np
import pytest

from edge.detection import Detection
from edge.transmit.base import OutgoingItem, packet_key
from edge.transmit.dat import DatConfig, make_dat_policy
from edge.transmit.fifo import FifoPolicy
from edge.transmit.fifo_adaptive import AdaptiveFifoPolicy
from edge.transmit.retry import RETRYABLE_CODES, RefusalBackoff, RetryQueue
from vigil.v1 import vigil_pb2 as pb


def _item(ev="e1", t=1.0, prio=pb.SEMANTIC_FRAME):
    img = np.random.default_rng(int(t * 10)).integers(0, 255, (272, 480, 3), dtype=np.uint8)
    return OutgoingItem(camera_id="c", event_id=ev, priority=prio, image=img, capture_time=t, event_onset=t,
                        detections=[Detection(100, 50, 250, 200, "person", 0.9, 3)],
                        hints={"counts": {"person": 1}, "event_stage": "new"}, severity=0.7)


def test_retry_queue_gives_entries_back_when_due_in_due_order():
    q = RetryQueue()
    q.push(5.0, "b")
    q.push(3.0, "a")
    q.push(5.0, "c")
    assert q.pop_due(2.9) is None and q.next_due() == 3.0 and len(q) == 3
    assert q.pop_due(3.0) == "a"
    assert q.drain() == ["b", "c"] and len(q) == 0 and q.next_due() is None


def test_refusal_backoff_grows_per_packet_and_resets_on_ack():
    b = RefusalBackoff(0.5, 4.0, rng=random.Random(0))
    first, second, third = b.delay("k"), b.delay("k"), b.delay("k")
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0 and 1.0 <= third <= 2.0   # equal jitter
    assert all(2.0 <= b.delay("k") <= 4.0 for _ in range(3))                      # capped
    assert 0.25 <= b.delay("other") <= 0.5                                       # per packet
    b.forget("k")
    assert 0.25 <= b.delay("k") <= 0.5 and len(b) == 2
    assert {"OVERLOADED", "INTERNAL"} == RETRYABLE_CODES


@pytest.mark.parametrize("make", [lambda tmp: FifoPolicy(), lambda tmp: AdaptiveFifoPolicy(),
                                  lambda tmp: make_dat_policy(DatConfig(spool_dir=tmp / "spool"))],
                         ids=["fifo", "fifo_adaptive", "dat"])
def test_a_refused_packet_goes_again_with_its_key_after_its_backoff(make, tmp_path):
    p = make(tmp_path)
    p.offer(_item(), 1.0)
    sent = []
    for step in range(200):                      # DAT sends the alert first, then the frame
        pkt = p.next_packet(1.0 + step * 0.01)
        if pkt is not None:
            sent.append(pkt)
        if not p.pending():
            break
    assert sent and p.unacked() == len(sent)
    target = sent[-1]
    key = packet_key(target)
    p.on_refused(key, 2.0, retry_at=3.0)
    assert p.unacked() == len(sent) - 1 and p.pending() >= 1       # not lost: waiting, counted
    assert p.next_packet(2.5) is None                              # not before its time
    assert p.wake_after(2.5) == pytest.approx(0.5)                  # the client sleeps until then
    again = p.next_packet(3.0)
    assert again is not None and packet_key(again) == key          # same camera, run id, sequence
    assert again.jpeg == target.jpeg and p.unacked() == len(sent)
    p.on_ack(pb.Ack(camera_id=key[0], run_id=key[1], sequence=key[2], receive_time=3.1, edge_sent_time=3.0), 3.1)
    assert p.unacked() == len(sent) - 1


@pytest.mark.parametrize("make", [lambda tmp: FifoPolicy(), lambda tmp: AdaptiveFifoPolicy(),
                                  lambda tmp: make_dat_policy(DatConfig(spool_dir=tmp / "spool"))],
                         ids=["fifo", "fifo_adaptive", "dat"])
def test_a_refused_packet_still_waiting_when_the_link_drops_is_resent_next_session(make, tmp_path):
    p = make(tmp_path)
    p.offer(_item(prio=pb.ALERT_METADATA), 1.0)
    pkt = None
    for step in range(100):
        pkt = pkt or p.next_packet(1.0 + step * 0.01)
    key = packet_key(pkt)
    p.on_refused(key, 1.5, retry_at=60.0)
    p.on_disconnect(2.0)
    keys = []
    for step in range(200):
        out = p.next_packet(2.1 + step * 0.01)
        if out is not None:
            keys.append(packet_key(out))
    assert key in keys                           # not held until its backoff: the new session sends it
