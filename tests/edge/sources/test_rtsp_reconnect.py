"""Reconnection over real RTSP: rtsp-server-perl relays an ffmpeg publisher that the test kills and restarts.

Needs the Debian packages ``ffmpeg`` and ``rtsp-server-perl`` (installed by .ci/run); the
MJPEG test (test_mjpeg_reconnect.py) covers the same state machine without them.
"""
import shutil
import socket
import subprocess

import pytest

from edge.sources import CameraConfig
from edge.sources.state import CameraState
from edge.sources.worker import CameraWorker
from tests.helpers import frames_within, free_port, wait_for
from vigil.footage import clip_path

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("rtsp-server-perl")),
                                reason="needs ffmpeg and rtsp-server-perl (apt)")


@pytest.fixture
def rtsp():
    client_port, source_port = free_port(), free_port()
    server = subprocess.Popen(["rtsp-server-perl", "-c", str(client_port), "-s", str(source_port), "-l", "1",
                               "--rtp_start_port", str(30000 + client_port % 20000)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: _listening(client_port), 10.0)
    clip = str(clip_path("bikes.mp4"))

    def publish() -> subprocess.Popen:
        return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
                                 "-i", clip, "-an", "-c:v", "copy", "-f", "rtsp",
                                 f"rtsp://127.0.0.1:{source_port}/cam"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    procs = {"server": server, "publisher": publish()}
    yield f"rtsp://127.0.0.1:{client_port}/cam", procs, publish
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
            p.wait(5)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_rtsp_camera_recovers_when_its_publisher_dies_and_comes_back(rtsp):
    url, procs, publish = rtsp
    cam = CameraConfig(id="rtsp", url=url, fps=5, rtsp_transport="udp",      # rtsp-server-perl relays RTP over UDP
                       reconnect=dict(read_timeout_s=2.0, open_timeout_s=4.0, backoff_initial_s=0.3,
                                      backoff_max_s=1.0, jitter=0.1))
    assert cam.source_kind == "rtsp"
    with CameraWorker(cam) as w:
        assert wait_for(lambda: w.state == CameraState.STREAMING, 15.0)
        first = frames_within(w, 2.0)
        assert first >= 5
        assert w.get(1.0).image.shape == (272, 640, 3)

        procs["publisher"].terminate()                  # the camera's encoder dies
        procs["publisher"].wait(5)
        assert wait_for(lambda: w.snapshot()["stalls"] >= 1, 8.0)

        procs["publisher"] = publish()                  # and comes back
        assert wait_for(lambda: w.snapshot()["recoveries"] >= 1 and w.state == CameraState.STREAMING, 25.0)
        assert frames_within(w, 2.0) >= 5
