"""The edge's status line and /healthz: what an operator reads while the agent runs."""
import json
import urllib.error
import urllib.request

import pytest

from edge.health import HealthServer
from edge.status import AgentStatus, CameraStatus, FrameRate, LinkStatus, format_rate, status_lines

LINK = LinkStatus(connected=True, rate_bps=1_250_000.0, queued=3, spooled=0)


def _cam(camera_id="cam-1", state="streaming", cause=""):
    return CameraStatus(camera_id, state, 4.9, 120, 30, 12, cause=cause)


def _status(*states):
    return AgentStatus(cameras=[_cam(f"cam-{i + 1}", s) for i, s in enumerate(states or ("streaming",))], link=LINK)


def test_one_line_per_camera_with_the_link_numbers():
    lines = status_lines(_status())
    assert lines == ["camera cam-1: streaming, 4.9 fps, gated 30/120, sent 12 "
                     "| link up, estimate 1.2 Mbit/s, queued 3, spooled 0"]
    assert format_rate(None) == "n/a" and format_rate(64_000) == "64.0 kbit/s"
    bad = AgentStatus(cameras=[_cam(state="failed", cause="connection refused by 10.0.0.5:554")])
    assert status_lines(bad) == ["camera cam-1: failed (connection refused by 10.0.0.5:554), 4.9 fps, gated 30/120, sent 12"]


def test_fps_is_the_same_for_every_reader_and_falls_to_zero_when_frames_stop():
    rate = FrameRate(window_s=5.0)
    for i in range(50):                       # 10 fps for 5 s
        rate.tick("c", 100.0 + i * 0.1)
    assert rate.fps("c", 104.95) == pytest.approx(10.0, rel=0.05)
    assert rate.fps("c", 104.95) == pytest.approx(10.0, rel=0.05)      # asking twice changes nothing
    assert rate.fps("c", 110.0) == 0.0                                   # nothing for 5 s
    assert rate.fps("never", 110.0) == 0.0
    young = FrameRate(window_s=5.0)
    for i in range(5):                        # started 1 s ago at 5 fps: not diluted by the window
        young.tick("c", 10.0 + i * 0.2)
    assert young.fps("c", 11.0) == pytest.approx(5.0, rel=0.05)


@pytest.mark.parametrize("states, status, healthy, code", [
    (("streaming", "streaming"), "ok", True, 200),
    (("streaming", "ended"), "ok", True, 200),
    (("streaming", "reconnecting"), "degraded", False, 200),
    (("streaming", "failed"), "degraded", False, 200),
    (("connecting",), "down", False, 503),
    (("reconnecting",), "down", False, 503),
    (("failed",), "down", False, 503),
])
def test_healthz_says_ok_degraded_or_down(states, status, healthy, code):
    srv = HealthServer(lambda: _status(*states)).start()
    try:
        try:
            with urllib.request.urlopen(srv.url, timeout=5) as r:
                got, body = r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            got, body = exc.code, json.loads(exc.read())
    finally:
        srv.stop()
    assert (got, body["status"], body["healthy"]) == (code, status, healthy)
    assert [c["state"] for c in body["cameras"]] == list(states) and body["cameras"][0]["sent"] == 12


def test_no_camera_is_down():
    assert AgentStatus(cameras=[]).status == "down" and not AgentStatus(cameras=[]).healthy
