"""De-duplication of (edge, camera, run id, sequence) keys.

Store-and-forward replays and reconnects can resend packets the cloud already
has; the cloud acknowledges them again (so the edge can drop them) but does
not process them twice. The edge's run id is part of the key because a
restarted edge numbers its packets from 1 again. Bounded: the oldest keys are
forgotten first.
"""
from __future__ import annotations

from vigil.recent import RecentSet


class SeenWindow:
    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self._seen: RecentSet[tuple[str, str, str, int]] = RecentSet(capacity)

    def check_and_add(self, edge_id: str, camera_id: str, sequence: int, run_id: str = "") -> bool:
        """True if this key is new (and remembers it); False for a duplicate."""
        return self._seen.add((edge_id, camera_id, run_id, sequence))

    def forget(self, edge_id: str, camera_id: str, sequence: int, run_id: str = "") -> None:
        """Un-see a key (its processing failed; the edge's resend must be processed)."""
        self._seen.discard((edge_id, camera_id, run_id, sequence))

    def __len__(self) -> int:
        return len(self._seen)
