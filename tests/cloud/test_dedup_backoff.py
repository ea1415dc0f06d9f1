import random

import pytest

from cloud.alerts.backoff import backoff_delay
from cloud.dedup import SeenWindow


def test_seen_window_detects_duplicates_and_is_bounded():
    w = SeenWindow(capacity=100)
    assert w.check_and_add("e", "c", 1) and not w.check_and_add("e", "c", 1)
    assert w.check_and_add("e", "other", 1) and w.check_and_add("e2", "c", 1)
    for s in range(2, 300):
        w.check_and_add("e", "c", s)
    assert len(w) == 100


def test_backoff_grows_and_caps():
    rng = random.Random(1)
    assert backoff_delay(1, 0.5, 10, jitter=False) == 0.5
    assert backoff_delay(4, 0.5, 10, jitter=False) == 4.0
    assert backoff_delay(20, 0.5, 10, jitter=False) == 10
    for attempt in range(1, 10):
        d = backoff_delay(attempt, 0.5, 10, rng=rng)
        ceiling = min(10, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= d <= ceiling
    with pytest.raises(ValueError):
        backoff_delay(0, 1, 2)
