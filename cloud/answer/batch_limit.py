"""How many descriptions the model computes at once: as many as still finish well inside their deadline.

Pure bookkeeping (no clock, no torch). Batching raises a CPU's throughput (one read of the weights
serves every row of a decode step) but every row then waits for the whole batch: on the shared 2-core
machine four rows of 64 tokens each took longer than the 30 s deadline, so all four were cancelled
together, where one at a time would have finished (docs/scheduling.md). So the limit adapts, as TCP's
congestion window does (additive increase, multiplicative decrease): one more row while descriptions
finish in under ``GROW_BELOW`` of the time they had left when they started and more events wait;
half as many when one takes over ``SHRINK_ABOVE`` of it or misses its deadline. It starts at one.
"""
from __future__ import annotations

from dataclasses import dataclass

GROW_BELOW = 0.35     # share of its remaining time a description may use and still let the batch grow
SHRINK_ABOVE = 0.7    # share past which the batch shrinks (the next one would risk its deadline)


@dataclass
class BatchLimit:
    maximum: int
    current: int = 1

    def __post_init__(self) -> None:
        if self.maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.current = max(1, min(self.current, self.maximum))

    def finished(self, took_s: float, had_s: float, backlog: bool) -> int:
        """A description took ``took_s`` of the ``had_s`` it had left; ``backlog``: others are waiting."""
        share = took_s / had_s if had_s > 0 else float("inf")
        if share > SHRINK_ABOVE:
            self.current = max(1, self.current // 2)
        elif share < GROW_BELOW and backlog:
            self.current = min(self.maximum, self.current + 1)
        return self.current

    def missed(self) -> int:
        """A description was cancelled at its deadline."""
        self.current = max(1, self.current // 2)
        return self.current
