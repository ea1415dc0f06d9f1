"""A pure bottleneck-link model for DAT tests: FIFO queue, rate schedule, fixed one-way delay."""
from __future__ import annotations

import heapq
from typing import Callable


class BottleneckLink:
    def __init__(self, rate_fn: Callable[[float], float], one_way_delay: float) -> None:
        self.rate_fn = rate_fn          # t -> bytes/s
        self.owd = one_way_delay
        self.free_at = 0.0
        self._acks: list[tuple[float, int, object]] = []
        self._n = 0

    def send(self, t: float, size: int, key: object) -> float:
        start = max(t, self.free_at)
        finish = start + size / self.rate_fn(start)
        self.free_at = finish
        self._n += 1
        arrive = finish + self.owd
        heapq.heappush(self._acks, (arrive + self.owd, self._n, (key, arrive)))
        return arrive

    def acks_until(self, t: float) -> list[tuple[float, object, float]]:
        """(ack time at sender, key, arrival time at receiver) for every ack due by ``t``."""
        out = []
        while self._acks and self._acks[0][0] <= t:
            at, _, (key, arrive) = heapq.heappop(self._acks)
            out.append((at, key, arrive))
        return out
