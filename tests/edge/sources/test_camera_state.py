"""The camera state machine, driven with plain timestamps (no sockets, no threads)."""
import random

import pytest

from edge.sources.config import ReconnectConfig
from edge.sources.state import CameraState, CameraStateMachine


def machine(**kw) -> CameraStateMachine:
    cfg = ReconnectConfig(**{"read_timeout_s": 2.0, "open_timeout_s": 5.0, "backoff_initial_s": 1.0,
                             "backoff_max_s": 8.0, "backoff_factor": 2.0, "jitter": 0.0, **kw})
    m = CameraStateMachine(cfg, random.Random(7))
    m.begin(0.0)
    return m


def test_open_then_frames_is_streaming():
    m = machine()
    m.opened(0.1)
    m.frame(0.2)
    assert m.state == CameraState.STREAMING
    assert m.frames == 1 and m.failures == 0


def test_no_frame_for_read_timeout_is_a_stall_then_reconnect_with_backoff():
    m = machine()
    m.opened(0.0)
    m.frame(1.0)
    assert not m.check(2.9)                    # 1.9 s without a frame: still fine
    assert m.check(3.1)                        # 2.1 s: stalled
    states = [t.new for t in m.history]
    assert states[-2:] == [CameraState.STALLED, CameraState.RECONNECTING]
    assert m.stalls == 1
    assert m.retry_at == pytest.approx(3.1 + 1.0)
    assert not m.should_retry(4.0)
    assert m.should_retry(4.2)
    m.retrying(4.2)
    assert m.state == CameraState.CONNECTING and m.reconnects == 1


def test_backoff_grows_exponentially_and_is_capped():
    m = machine()
    delays = []
    now = 0.0
    for _ in range(6):
        m.open_failed(now, "refused")
        delays.append(m.retry_at - now)
        now = m.retry_at
        m.retrying(now)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_jitter_spreads_retries_within_bounds():
    delays = set()
    for seed in range(20):
        m = CameraStateMachine(ReconnectConfig(backoff_initial_s=1.0, jitter=0.25), random.Random(seed))
        m.begin(0.0)
        m.open_failed(0.0, "refused")
        d = m.retry_at
        assert 0.75 <= d <= 1.25
        delays.add(round(d, 6))
    assert len(delays) > 10        # cameras dropped together do not retry in lockstep


def test_a_good_frame_resets_the_backoff():
    m = machine()
    for t in (0.0, 1.0, 3.0):
        m.open_failed(t, "refused")
        m.retrying(m.retry_at)
    assert m.failures == 3
    m.opened(10.0)
    m.frame(10.1)
    assert m.failures == 0
    m.read_failed(11.0, "reset by peer")
    assert m.retry_at == pytest.approx(12.0)      # back to the initial delay
    assert m.snapshot()["recoveries"] == 0 and m.connections == 1


def test_open_that_hangs_times_out():
    m = machine(open_timeout_s=3.0)
    assert not m.check(2.0)
    assert m.check(3.5)
    assert m.state == CameraState.RECONNECTING
    assert "open timed out" in m.last_error


def test_end_of_file_and_stop_are_final():
    m = machine()
    m.opened(0.0)
    m.ended(1.0)
    m.frame(1.1)
    m.read_failed(1.2, "x")
    assert m.state == CameraState.ENDED and m.done
    assert not m.check(100.0)


def test_recoveries_count_successful_reconnections():
    m = machine()
    m.opened(0.0)
    m.read_failed(1.0, "gone")
    m.retrying(m.retry_at)
    m.opened(2.5)
    assert m.history[-1].why == "reconnected"
    assert m.snapshot()["recoveries"] == 1


def test_what_an_operator_is_shown():
    m = machine(failed_after=3)
    assert m.health(0.0) == {"state": "connecting", "cause": "", "retry_in_s": None}
    m.open_failed(0.0, "connection refused by cam:554")
    assert m.health(0.5) == {"state": "reconnecting", "cause": "connection refused by cam:554", "retry_in_s": 0.5}
    now = m.retry_at
    for _ in range(2):
        m.retrying(now)
        assert m.health(now)["state"] == "reconnecting"        # retrying after a failure is not "connecting"
        m.open_failed(now, "connection refused by cam:554")
        now = m.retry_at
    assert m.failures == 3 and m.health(now)["state"] == "failed"
    m.retrying(now)
    assert m.health(now)["state"] == "failed"                  # still retried, still shown failed
    m.opened(now + 0.1)
    m.frame(now + 0.2)
    assert m.health(now + 0.2) == {"state": "streaming", "cause": "", "retry_in_s": None}
    m.ended(now + 1)
    m.stop(now + 2)                                            # how it finished stays visible
    assert m.health(now + 2)["state"] == "ended"


def test_a_file_that_will_not_decode_is_failed_for_good():
    m = machine()
    m.failed(0.1, "unsupported codec or not a video: x.mp4")
    assert m.done and m.health(0.2) == {"state": "failed", "cause": "unsupported codec or not a video: x.mp4",
                                        "retry_in_s": None}
