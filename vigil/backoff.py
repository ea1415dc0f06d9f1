"""Retry delays: exponential backoff with "equal jitter" (pure, testable); the one backoff of webhook
retries, the edge's reconnects to the cloud and its camera reconnects.

Delay before retry n: ceiling = min(max, initial * factor^(n-1)), then a random share of up to
`jitter` of it is taken off: ceiling * (1 - jitter * U[0, 1)). With jitter = 0.5 this is the
"equal jitter" recipe of AWS's "Exponential Backoff And Jitter" (2015): retries of clients dropped
together spread out, yet each still waits at least half its ceiling, so they really back off.
"""
from __future__ import annotations

import random

DEFAULT_FACTOR = 2.0
DEFAULT_JITTER = 0.5   # equal jitter


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None,
                  jitter: float = DEFAULT_JITTER, factor: float = DEFAULT_FACTOR) -> float:
    """Delay before retry number ``attempt`` (1-based); ``jitter`` in [0, 1] is the share that may be taken off."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter is a fraction in [0, 1]")
    ceiling = min(max_s, initial_s * factor ** (attempt - 1))
    if not jitter:
        return ceiling
    return ceiling * (1.0 - jitter * (rng or random).random())
