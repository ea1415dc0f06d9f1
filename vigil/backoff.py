"""Retry delays: exponential backoff with jitter (pure, testable); shared by webhook retries and the edge's reconnects."""
from __future__ import annotations

import random


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None,
                  jitter: bool = True) -> float:
    """Delay before retry number ``attempt`` (1-based): min(max, initial*2^(attempt-1)), jittered."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    ceiling = min(max_s, initial_s * (2 ** (attempt - 1)))
    if not jitter:
        return ceiling
    r = (rng or random).random()
    # Keep at least half the ceiling so retries really back off under load.
    return ceiling * (0.5 + 0.5 * r)
