"""A circuit breaker per alert endpoint (Nygard, *Release It!*, "Circuit Breaker").

::

    closed --(failure_threshold consecutive failures)--> open
    open   --(cool-down passed)--> half_open   (one probe attempt goes out)
    half_open --success--> closed
    half_open --failure--> open (next cool-down longer: exponential, jittered, capped)

While open, the delivery worker sends nothing to the endpoint: a receiver that is down is not
hammered by every pending stage's own retry schedule, and other endpoints are unaffected. Only
retryable failures count (a 4xx rejects one body, not the endpoint). Pure: the caller passes the
time, so it is tested without clocks or sockets.
"""
from __future__ import annotations

import random
from typing import Literal

from vigil.backoff import backoff_delay

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, open_initial_s: float = 1.0, open_max_s: float = 60.0,
                 rng: random.Random | None = None):
        self.failure_threshold = failure_threshold
        self.open_initial_s = open_initial_s
        self.open_max_s = open_max_s
        self._rng = rng
        self.state: State = "closed"
        self.failures = 0          # consecutive, while closed
        self.opened = 0            # consecutive openings (cool-down grows with them)
        self.retry_at = 0.0
        self._probe_out = False

    def allow(self, now: float) -> int:
        """How many attempts may go out now: 0 (open or probe in flight), 1 (probe) or -1 (no limit)."""
        if self.state == "open":
            if now < self.retry_at:
                return 0
            self.state = "half_open"
            self._probe_out = False
        if self.state == "half_open":
            if self._probe_out:
                return 0
            self._probe_out = True
            return 1
        return -1

    def release_probe(self) -> None:
        """The probe ``allow`` granted was not used (nothing was due)."""
        self._probe_out = False

    def wait_s(self, now: float) -> float:
        """Seconds until ``allow`` can say yes (0 when it can now)."""
        if self.state == "open":
            return max(0.0, self.retry_at - now)
        return 0.0

    def on_success(self) -> None:
        self.state, self.failures, self.opened, self._probe_out = "closed", 0, 0, False

    def on_failure(self, now: float) -> None:
        if self.state == "half_open":
            self._open(now)
            return
        self.failures += 1
        if self.state == "closed" and self.failures >= self.failure_threshold:
            self._open(now)

    def _open(self, now: float) -> None:
        self.opened += 1
        self.state = "open"
        self._probe_out = False
        self.retry_at = now + backoff_delay(self.opened, self.open_initial_s, self.open_max_s, rng=self._rng)
