"""Reconnection against a real HTTP MJPEG camera that the test starts, kills, pauses and restarts."""
import time

import pytest

from edge.sources import CameraConfig
from edge.sources.state import CameraState
from edge.sources.worker import CameraWorker
from tests.helpers import frames_within, wait_for
from tests.helpers.mjpeg_server import MjpegServer, counter_frames

FAST = dict(read_timeout_s=1.0, open_timeout_s=3.0, backoff_initial_s=0.2, backoff_max_s=0.8, jitter=0.1)


@pytest.fixture
def server():
    srv = MjpegServer(counter_frames, fps=20).start()
    yield srv
    srv.stop()


def test_camera_recovers_after_the_server_is_killed_and_restarted(server, caplog):
    caplog.set_level("INFO", logger="edge.sources.worker")
    cam = CameraConfig(id="door", url=server.url, fps=5, reconnect=FAST)
    with CameraWorker(cam) as w:
        assert frames_within(w, 1.5) >= 3
        assert w.state == CameraState.STREAMING

        server.stop()                                   # the camera goes away mid-stream
        assert wait_for(lambda: w.snapshot()["reconnects"] >= 2, 6.0)
        assert w.state in (CameraState.RECONNECTING, CameraState.CONNECTING)
        assert w.get(0.3) is None                       # nothing stale is handed out while down

        server.start()                                  # same port, back again
        assert wait_for(lambda: w.state == CameraState.STREAMING, 8.0)
        assert frames_within(w, 1.5) >= 3
        snap = w.snapshot()
    assert snap["recoveries"] == 1 and snap["stalls"] >= 1
    seen = [t.new for t in w.machine.history]
    assert CameraState.STALLED in seen and CameraState.RECONNECTING in seen
    logs = caplog.text
    assert "door: streaming -> stalled" in logs and "reconnected" in logs      # visible to an operator


def test_a_silent_stream_is_detected_by_timeout_not_waited_on(server):
    cam = CameraConfig(id="gate", url=server.url, fps=5, reconnect=FAST)
    with CameraWorker(cam) as w:
        assert frames_within(w, 1.0) >= 2
        server.pause()                                  # connection stays open, frames stop
        t0 = time.monotonic()
        assert wait_for(lambda: w.snapshot()["stalls"] >= 1, 4.0)
        assert time.monotonic() - t0 < FAST["read_timeout_s"] + 1.5
        server.resume()
        assert wait_for(lambda: w.state == CameraState.STREAMING, 8.0)


def test_one_dead_camera_does_not_block_another(server):
    dead = CameraConfig(id="dead", url="http://127.0.0.1:9/stream.mjpg", fps=5, reconnect=FAST)
    live = CameraConfig(id="live", url=server.url, fps=5, reconnect=FAST)
    with CameraWorker(dead) as wd, CameraWorker(live) as wl:
        n = frames_within(wl, 2.0)
        assert n >= 7                                   # ~5 fps despite the dead neighbour
        assert wd.state in (CameraState.RECONNECTING, CameraState.CONNECTING)
        assert wd.snapshot()["reconnects"] >= 1


def test_latest_frame_semantics_drop_stale_frames(server):
    # The server sends 20 fps, we process at 5: the worker hands out ~5 fps of *fresh* frames.
    cam = CameraConfig(id="pace", url=server.url, fps=5, reconnect=FAST)
    with CameraWorker(cam) as w:
        assert wait_for(lambda: w.state == CameraState.STREAMING, 5.0)
        got = []
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            f = w.get(0.3)
            if f is not None:
                got.append(f)
                time.sleep(0.05)           # some processing time
        snap = w.snapshot()
    assert 7 <= len(got) <= 12
    assert snap["frames_dropped"] > len(got)            # most frames were dropped, not queued
    assert all(time.time() - f.capture_time < 5 for f in got)
    idx = [f.index for f in got]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
