"""De-duplication of (camera, sequence) pairs.

Store-and-forward replays and reconnects can resend packets the cloud already
has; the cloud acknowledges them again (so the edge can drop them) but does
not process them twice. Bounded: the oldest pairs are forgotten first.
"""
from __future__ import annotations

from vigil.recent import RecentSet


class SeenWindow:
    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self._seen: RecentSet[tuple[str, str, int]] = RecentSet(capacity)

    def check_and_add(self, edge_id: str, camera_id: str, sequence: int) -> bool:
        """True if this pair is new (and remembers it); False for a duplicate."""
        return self._seen.add((edge_id, camera_id, sequence))

    def __len__(self) -> int:
        return len(self._seen)
