import random

import pytest

from vigil.backoff import backoff_delay


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


def test_factor_and_jitter_share():
    assert backoff_delay(3, 1.0, 100, jitter=0.0, factor=3.0) == 9.0
    rng = random.Random(2)
    delays = [backoff_delay(2, 1.0, 100, rng=rng, jitter=0.25) for _ in range(200)]
    assert all(1.5 <= d <= 2.0 for d in delays) and len(set(delays)) > 100
    with pytest.raises(ValueError):
        backoff_delay(1, 1, 2, jitter=1.5)
