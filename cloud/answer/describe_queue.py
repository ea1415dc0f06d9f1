"""DescribeQueue: which event the model describes next (pure bookkeeping: no torch, no clock, no threads).

The engine describes far fewer events per second than a busy site raises on a CPU, so what waits
for it is chosen, not merely queued:

- **Order**: first descriptions before second ones (``tier``: a re-description of an event that
  already has its description, cloud/answer/redescribe_policy.py), then severity, then the earliest
  deadline, then arrival (first come, first served among equals). An intrusion is described before
  a passer-by; among passers-by, the one whose alert times out soonest goes first; nobody waits for
  their first description behind somebody's second.
- **Deadlines**: a job whose deadline has passed is never handed out; nor is one that cannot
  finish before it (``take(now, service_s)``: the caller's estimate of one description). Its alert
  times out anyway, so computing it would only delay the jobs behind it.
- **Coalescing**: one pending job per event (``key``). A newer job of the same event replaces the
  pending one (it carries the event's latest frame and stage); it keeps the earlier arrival, so an
  event that keeps updating does not lose its place.
- **Bound**: at most ``capacity`` jobs wait. When a job arrives at a full queue, the least
  important job (a second description, then lowest severity, latest deadline, latest arrival) of
  the queue plus the newcomer is shed and reported, so the caller can close its alert as ``timeout``/``overloaded``
  and tell the edge.

Every job that leaves without being handed out is returned as a ``Dropped`` with its reason; the
queue never forgets one silently. Times are plain floats passed in by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DropReason = Literal["overloaded", "deadline"]


SECOND_KEY_SUFFIX = "/again"   # a second description's job key: <alert id>/again (tier 1)


def is_second(key: str) -> bool:
    """Whether a job key names an event's second description (cloud/answer/redescribe.py makes them)."""
    return key.endswith(SECOND_KEY_SUFFIX)


@dataclass(frozen=True)
class DescribeJob:
    """One event to describe. ``payload`` is opaque here (the request, its image)."""

    key: str              # the event (alert id): jobs with one key coalesce
    severity: float       # 0..1, higher first
    deadline: float       # unix seconds after which a description is useless
    arrival: float        # when the event first asked to be described
    payload: Any = None
    tier: int = 0         # 0: the event's first description; 1: a second one (after, and shed before, every first)


@dataclass(frozen=True)
class Dropped:
    job: DescribeJob
    reason: DropReason


@dataclass
class QueueCounts:
    """Totals since start (metrics): offered, coalesced, shed (overloaded), late (deadline), taken. ``shed`` and
    ``late`` count first descriptions (each is an alert's ``timeout``); second ones are counted apart."""

    offered: int = 0
    coalesced: int = 0
    shed: int = 0
    late: int = 0
    taken: int = 0
    shed_second: int = 0
    late_second: int = 0

    def drop(self, job: DescribeJob, reason: DropReason) -> Dropped:
        """Count ``job`` leaving unserved, by its tier."""
        if reason == "overloaded":
            self.shed_second += job.tier > 0
            self.shed += job.tier == 0
        else:
            self.late_second += job.tier > 0
            self.late += job.tier == 0
        return Dropped(job, reason)


def _rank(job: DescribeJob) -> tuple[int, float, float, float]:
    """Smaller is more important: a first description, severity high, deadline early, arrival early."""
    return (job.tier, -job.severity, job.deadline, job.arrival)


@dataclass
class DescribeQueue:
    capacity: int
    _jobs: dict[str, DescribeJob] = field(default_factory=dict)
    counts: QueueCounts = field(default_factory=QueueCounts)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, key: str) -> bool:
        return key in self._jobs

    def offer(self, job: DescribeJob, now: float) -> list[Dropped]:
        """Queue ``job`` (replacing the pending job of its event); returns what left the queue unserved."""
        self.counts.offered += 1
        dropped = self.expire(now)
        if job.deadline <= now:
            return [*dropped, self.counts.drop(job, "deadline")]
        pending = self._jobs.get(job.key)
        if pending is not None:
            self.counts.coalesced += 1
            self._jobs[job.key] = DescribeJob(job.key, job.severity, job.deadline, pending.arrival, job.payload,
                                              job.tier)
            return dropped
        if len(self._jobs) >= self.capacity:
            least = max(self._jobs.values(), key=_rank)
            if _rank(job) >= _rank(least):   # the newcomer is the least important: it goes
                return [*dropped, self.counts.drop(job, "overloaded")]
            del self._jobs[least.key]
            dropped.append(self.counts.drop(least, "overloaded"))
        self._jobs[job.key] = job
        return dropped

    def take(self, now: float, service_s: float = 0.0) -> tuple[DescribeJob | None, list[Dropped]]:
        """The most important job that can still finish in time (``now + service_s`` before its
        deadline), and the jobs dropped on the way because they cannot."""
        dropped = self.expire(now + service_s)
        if not self._jobs:
            return None, dropped
        best = min(self._jobs.values(), key=_rank)
        del self._jobs[best.key]
        self.counts.taken += 1
        return best, dropped

    def expire(self, now: float) -> list[Dropped]:
        """Drop every job whose deadline is not after ``now``."""
        late = [j for j in self._jobs.values() if j.deadline <= now]
        for j in late:
            del self._jobs[j.key]
        return [self.counts.drop(j, "deadline") for j in late]

    def cancel(self, key: str) -> DescribeJob | None:
        """Forget the pending job of ``key`` (its alert finished another way); None when none waits."""
        return self._jobs.pop(key, None)

    def pressure(self) -> float:
        """0..1: how full the queue is (what the edges are told in Hints)."""
        return min(1.0, len(self._jobs) / self.capacity)
