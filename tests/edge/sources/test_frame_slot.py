"""The hand-over between a camera's reader and the processing loop."""
import threading
import time

import numpy as np

from edge.frame import Frame
from edge.sources import FrameSlot


def frame(i: int) -> Frame:
    return Frame("c", i, float(i), np.zeros((2, 2, 3), np.uint8))


def test_latest_frame_slot_keeps_only_the_newest():
    slot = FrameSlot(keep_all=False)
    for i in range(3):
        slot.put(frame(i))
    assert slot.get(0.1).index == 2
    assert slot.dropped == 2
    assert slot.get(0.05) is None                  # nothing new: no stale repeat


def test_latest_frame_slot_paces_to_the_processing_rate():
    slot = FrameSlot(keep_all=False, min_interval_s=0.2)
    slot.put(frame(0))
    assert slot.get(0.1) is not None
    slot.put(frame(1))
    t0 = time.monotonic()
    assert slot.get(1.0).index == 1
    assert time.monotonic() - t0 >= 0.15           # not before the next processing tick


def test_keep_all_slot_applies_back_pressure_and_loses_nothing():
    slot = FrameSlot(keep_all=True)
    got = []

    def consumer():
        while True:
            f = slot.get(2.0)
            if f is None:
                return
            got.append(f.index)
            time.sleep(0.01)

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(20):
        slot.put(frame(i))
    slot.close()
    t.join(5)
    assert got == list(range(20)) and slot.dropped == 0


def test_a_pending_frame_of_a_failed_connection_is_discarded_not_handed_out_later():
    """A live camera's connection fails: the frame it left in the slot is from before the outage, and handing
    it out during or after the outage would be stale (the MJPEG reconnect test saw it under load)."""
    slot = FrameSlot(keep_all=False)
    slot.put(frame(1))
    slot.discard()
    assert slot.get(0.05) is None and slot.dropped == 1
    slot.put(frame(2))                      # the next connection's frames flow as before
    assert slot.get(0.05).index == 2
