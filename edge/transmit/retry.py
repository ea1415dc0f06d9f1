"""Packets the cloud refused without keeping, waiting to be sent again.

The cloud answers a packet it could not take just now with an error instead of an Ack:
``OVERLOADED`` (a scaled-out cloud's job queue is full) or ``INTERNAL`` (it could not store
the packet). Nothing was kept, so the packet must be sent again with the same key (camera,
run id, sequence), and the cloud asks for exactly that ("it will be resent"). Without this the
edge resent such a packet only at its next session, after the stall clock had cut the link.

- `RefusalBackoff`: how long to wait before the n-th resend of one packet (vigil.backoff: the
  exponential, jittered delay of the link's reconnects), forgotten once the packet is acknowledged.
- `RetryQueue`: the refused packets (or items) by due time; each policy keeps one and sends its
  due entries before new work, so a refused alert does not wait behind newer frames.
Pure Python: no I/O, no clock of its own.
"""
from __future__ import annotations

import heapq
import itertools
import random
from typing import Generic, TypeVar

from vigil.backoff import backoff_delay

T = TypeVar("T")

# The cloud's error codes that mean "not kept, send it again" (see the module docstring).
RETRYABLE_CODES = frozenset({"OVERLOADED", "INTERNAL"})
MAX_TRACKED = 100_000   # packets whose refusal count is remembered (oldest forgotten first)


class RefusalBackoff:
    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None):
        self.initial_s = initial_s
        self.max_s = max_s
        self.rng = rng
        self._attempts: dict[object, int] = {}

    def delay(self, key: object) -> float:
        """Seconds to wait before sending `key` again (its n-th refusal: backoff_delay(n))."""
        n = self._attempts.pop(key, 0) + 1
        self._attempts[key] = n                  # re-inserted: the dict keeps recency order
        if len(self._attempts) > MAX_TRACKED:
            del self._attempts[next(iter(self._attempts))]
        return backoff_delay(n, self.initial_s, self.max_s, self.rng)

    def forget(self, key: object) -> None:
        self._attempts.pop(key, None)

    def __len__(self) -> int:
        return len(self._attempts)


class RetryQueue(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()          # equal due times keep their refusal order

    def push(self, due: float, entry: T) -> None:
        heapq.heappush(self._heap, (due, next(self._order), entry))

    def pop_due(self, now: float) -> T | None:
        """The oldest-due entry whose time has come, or None."""
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)[2]
        return None

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def drain(self) -> list[T]:
        """Everything, in due order (a lost link resends them all at the next session)."""
        out = [e for _, _, e in sorted(self._heap)]
        self._heap.clear()
        return out

    def __len__(self) -> int:
        return len(self._heap)
