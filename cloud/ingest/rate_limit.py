"""Per-edge rate limits: token buckets on packets/s and bytes/s (pure; the caller passes the time).

What happens over the limit is the caller's choice; ours (service.py): alert metadata is
never limited, event frames still raise their alert but are not decoded or described, context
frames are dropped; all are acknowledged with a RATE_LIMITED notice, so a flood degrades what
the cloud does with frames, never whether an alert exists.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float           # tokens per second
    burst: float          # bucket size
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, amount: float, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False


class EdgeRateLimiter:
    def __init__(self, packets_per_s: float, bytes_per_s: float, burst_s: float, max_edges: int = 10_000):
        self.packets_per_s, self.bytes_per_s, self.burst_s = packets_per_s, bytes_per_s, burst_s
        self.max_edges = max_edges
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}

    def allow(self, edge_id: str, size: int, now: float) -> bool:
        b = self._buckets.get(edge_id)
        if b is None:
            if len(self._buckets) >= self.max_edges:  # bounded: forget the oldest edge
                self._buckets.pop(next(iter(self._buckets)))
            b = (TokenBucket(self.packets_per_s, self.packets_per_s * self.burst_s),
                 TokenBucket(self.bytes_per_s, self.bytes_per_s * self.burst_s))
            self._buckets[edge_id] = b
        # Check both before taking from either, so a refused packet costs nothing.
        pk, by = b
        if not pk.take(1, now):
            return False
        if not by.take(size, now):
            pk.tokens += 1
            return False
        return True
