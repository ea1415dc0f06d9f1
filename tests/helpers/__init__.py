"""Helpers shared by the tests: polling, free ports, counting a camera worker's frames.

Fixtures that stand in for real systems live beside this file: `mjpeg_server.py` (a real HTTP MJPEG
camera the tests can kill, pause and restart) and `cloud_fakes.py` (a fake engine and an alert sink
for the gRPC service).
"""
from __future__ import annotations

import socket
import time

POLL_S = 0.05


def wait_for(pred, timeout: float, step: float = POLL_S) -> bool:
    """Poll `pred` until it holds or `timeout` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frames_within(worker, seconds: float) -> int:
    """Frames a `CameraWorker` delivers in `seconds`."""
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        n += worker.get(0.2) is not None
    return n
