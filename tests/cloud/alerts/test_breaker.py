"""The per-endpoint circuit breaker as a pure state machine."""
import random

from cloud.alerts.breaker import CircuitBreaker


def test_opens_after_threshold_probes_once_and_closes_on_success():
    b = CircuitBreaker(failure_threshold=3, open_initial_s=10, open_max_s=100, rng=random.Random(0))
    for _ in range(2):
        b.on_failure(0.0)
    assert b.state == "closed" and b.allow(0.0) == -1
    b.on_failure(0.0)
    assert b.state == "open" and b.allow(1.0) == 0 and 5.0 <= b.wait_s(0.0) <= 10.0
    t = b.retry_at
    assert b.allow(t) == 1 and b.allow(t) == 0           # one probe at a time
    b.on_failure(t)                                        # probe failed: open again, longer
    assert b.state == "open" and b.retry_at - t >= 10.0
    assert b.allow(b.retry_at) == 1
    b.on_success()
    assert b.state == "closed" and b.allow(b.retry_at) == -1


def test_cool_down_is_capped():
    b = CircuitBreaker(failure_threshold=1, open_initial_s=1, open_max_s=4, rng=random.Random(0))
    t = 0.0
    for _ in range(10):
        b.on_failure(t)
        assert b.retry_at - t <= 4.0
        t = b.retry_at
        b.allow(t)
