"""Draft length from acceptance history (transformers' assisted generation
"heuristic" schedule): +2 after a step whose drafts were all accepted, -1
otherwise, within [min, max]. Pure; one per row.
"""
from __future__ import annotations

from dataclasses import dataclass

GROW_ON_FULL_ACCEPT = 2
SHRINK_ON_REJECT = 1


@dataclass
class DraftLength:
    value: int
    low: int
    high: int
    adaptive: bool = True

    def update(self, drafted: int, accepted: int) -> None:
        if not self.adaptive or drafted == 0:
            return
        step = GROW_ON_FULL_ACCEPT if accepted >= drafted else -SHRINK_ON_REJECT
        self.value = max(self.low, min(self.high, self.value + step))
