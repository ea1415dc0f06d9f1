"""A read that never returns is abandoned by timeout; the camera reconnects on a fresh connection."""
import threading
import time

import numpy as np

from edge.frame import Frame
from edge.sources import CameraConfig, CameraState, CameraWorker, FrameSource


class HangingSource(FrameSource):
    """Delivers `good` frames at 20 fps, then blocks in read() like a wedged driver."""

    def __init__(self, good: int, release: threading.Event):
        self.camera_id = "hang"
        self.good, self.release, self.n = good, release, 0

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self.n >= self.good:
            self.release.wait()               # never returns during the test
            return None
        self.n += 1
        time.sleep(0.05)
        return Frame("hang", self.n, time.time(), np.zeros((8, 8, 3), np.uint8))

    def close(self) -> None:
        pass


def test_a_wedged_read_is_abandoned_and_the_camera_reconnects():
    release = threading.Event()
    made = []

    def factory(cfg):
        src = HangingSource(good=5, release=release)
        made.append(src)
        return src

    cam = CameraConfig(id="hang", url="http://example.invalid/stream", fps=10,
                       reconnect=dict(read_timeout_s=0.5, backoff_initial_s=0.1, backoff_max_s=0.2, jitter=0.0))
    w = CameraWorker(cam, source_factory=factory).start()
    try:
        got = [w.get(0.3) for _ in range(12)]
        deadline = time.monotonic() + 5
        while len(made) < 3 and time.monotonic() < deadline:
            w.get(0.1)
        snap = w.snapshot()
        assert len(made) >= 3                              # two wedged connections replaced
        assert snap["stalls"] >= 2 and snap["recoveries"] >= 2
        assert sum(f is not None for f in got) >= 5
        assert any(t.new == CameraState.STALLED and "no frame for" in t.why for t in w.machine.history)
    finally:
        w.stop()
        release.set()
