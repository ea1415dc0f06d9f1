"""A camera that stays down is said once, not on every retry (real sockets, real worker threads)."""
import logging

from edge.sources import CameraConfig
from edge.sources.worker import CameraWorker
from tests.helpers import free_port, wait_for


def test_a_dead_camera_is_one_warning_then_one_error_then_quiet(caplog):
    caplog.set_level(logging.DEBUG, logger="edge.sources.worker")
    port = free_port()
    cam = CameraConfig(id="yard", url=f"http://127.0.0.1:{port}/video.mjpg",
                       reconnect={"backoff_initial_s": 0.05, "backoff_max_s": 0.1, "jitter": 0.0, "failed_after": 2})
    with CameraWorker(cam) as w:
        assert wait_for(lambda: w.snapshot()["failures"] >= 6, 15.0)
        health = w.snapshot()["health"]
    assert health["state"] == "failed" and health["cause"].startswith(f"connection refused by 127.0.0.1:{port}")
    mine = [r for r in caplog.records if "yard" in r.getMessage()]
    loud = [(r.levelname, r.getMessage()) for r in mine if r.levelno >= logging.WARNING]
    assert [lvl for lvl, _ in loud] == ["WARNING", "ERROR"], loud
    assert "connection refused" in loud[0][1] and "shown as failed after 2 attempts" in loud[1][1]
    assert sum(r.levelno == logging.DEBUG for r in mine) >= 4          # the repeats are there for whoever asks
