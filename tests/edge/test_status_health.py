"""The edge's status line and /healthz: what an operator reads while the agent runs."""
import json
import urllib.error
import urllib.request

from edge.health import HealthServer
from edge.status import AgentStatus, CameraStatus, FpsMeter, LinkStatus, format_rate, status_lines


def _status(state="streaming"):
    return AgentStatus(cameras=[CameraStatus("cam-1", state, 4.9, 120, 30, 12)],
                       link=LinkStatus(connected=True, rate_bps=1_250_000.0, queued=3, spooled=0))


def test_one_line_per_camera_with_the_link_numbers():
    lines = status_lines(_status())
    assert lines == ["camera cam-1: streaming, 4.9 fps, gated 30/120, sent 12 "
                     "| link up, estimate 1.2 Mbit/s, queued 3, spooled 0"]
    assert format_rate(None) == "n/a" and format_rate(64_000) == "64.0 kbit/s"


def test_fps_is_measured_between_reports():
    m = FpsMeter()
    assert m.update("c", 0, 100.0) == 0.0
    assert m.update("c", 50, 110.0) == 5.0


def test_healthz_is_200_while_cameras_live_and_503_when_one_failed():
    current = {"status": _status()}
    srv = HealthServer(lambda: current["status"]).start()
    try:
        with urllib.request.urlopen(srv.url, timeout=5) as r:
            body = json.loads(r.read())
        assert r.status == 200 and body["healthy"] and body["cameras"][0]["sent"] == 12
        current["status"] = _status("failed")
        try:
            urllib.request.urlopen(srv.url, timeout=5)
            raise AssertionError("a failed camera must make /healthz fail")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503 and json.loads(exc.read())["healthy"] is False
    finally:
        srv.stop()
