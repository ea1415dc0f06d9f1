"""Continuous-batching scheduler: pure bookkeeping (no torch, no threads, no clock).

The nano-vllm shape: requests wait in a queue; each engine step is either a
prefill of newly admitted requests or one decode step of every running one.
Admission happens whenever a slot is free, so a request joins the running
batch between any two decode steps and leaves it the step it finishes
(continuous batching); finished sequences never hold a slot. Optionally
(`decode_steps_between_prefills`) running rows get a few decode steps between
two prefills, so a burst of arrivals cannot stall answers already underway.

Who is admitted first (beyond nano-vllm, which is FIFO): the waiting request
with the highest priority
    severity_weight * severity
  + aging_per_second * seconds waited           (nothing starves)
  + urgency_weight * urgency(deadline)          (0 far from the deadline, 1 at it)
  - camera_share * slots this camera already holds (one busy camera cannot
                                                   crowd out the others)
ties broken by arrival. Requests whose deadline passed while waiting are
dropped (their alert has already timed out) when `drop_expired` is set.

Backpressure is the waiting queue's fill level (0 = empty, 1 = full, where
`add` refuses); the server turns it into cloud -> edge Hints so the edge sends
less before the queue overflows.

All times are plain floats passed in by the caller, which keeps every policy
decision reproducible in tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SchedulingPolicy(BaseModel):
    """How waiting requests are ranked (the priority in the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity_weight: float = Field(default=1.0, ge=0.0, description="weight of the event's severity in the priority")
    # A request waiting 10 s gains as much as one full severity point: nothing starves.
    aging_per_second: float = Field(default=0.1, ge=0.0, description="priority gained per second of waiting")
    deadline_horizon_s: float = Field(default=5.0, gt=0.0, description="a deadline closer than this makes a request urgent")
    urgency_weight: float = Field(default=1.0, ge=0.0, description="priority added at full urgency (deadline now)")
    camera_share: float = Field(default=0.25, ge=0.0, description="priority taken off per running request of the same camera")
    drop_expired: bool = Field(default=True, description="reject requests whose deadline passed before admission instead of serving them late")
    # 0 prefills whenever a slot is free, as nano-vllm; more bounds how long a stream of arrivals
    # stalls the answers already being written (Sarathi-style interleaving, at step granularity).
    decode_steps_between_prefills: int = Field(default=0, ge=0, description="decode steps the running rows get between two prefill steps")


class SeqStatus(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


class QueueFull(RuntimeError):
    """The waiting queue is at capacity; the caller should shed or retry later."""


@dataclass
class SeqInfo:
    """What the scheduler knows about one request."""

    seq_id: str
    camera_id: str
    prompt_tokens: int
    arrival: float
    severity: float = 0.5
    deadline: float | None = None
    status: SeqStatus = SeqStatus.WAITING
    admitted_at: float | None = None


@dataclass(frozen=True)
class Batch:
    kind: Literal["prefill", "decode"]
    seq_ids: tuple[str, ...]


@dataclass
class Plan:
    """What one engine step should do."""

    batch: Batch | None
    expired: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(self, policy: SchedulingPolicy | None = None, *, max_batch_size: int = 16,
                 max_prefill_tokens: int = 8192, max_queue: int = 64):
        self.policy = policy or SchedulingPolicy()
        self.max_batch_size = max_batch_size
        self.max_prefill_tokens = max_prefill_tokens
        self.max_queue = max_queue
        self.waiting: dict[str, SeqInfo] = {}
        self.running: dict[str, SeqInfo] = {}
        self._decodes_since_prefill = 0

    # -- queue ---------------------------------------------------------------------------
    def add(self, seq: SeqInfo) -> None:
        if seq.seq_id in self.waiting or seq.seq_id in self.running:
            raise ValueError(f"duplicate request id {seq.seq_id!r}")
        if len(self.waiting) >= self.max_queue:
            raise QueueFull(f"{len(self.waiting)} requests waiting (max_queue={self.max_queue})")
        seq.status = SeqStatus.WAITING
        self.waiting[seq.seq_id] = seq

    def cancel(self, seq_id: str) -> bool:
        """Forget a waiting or running request (its caller gave up). True if it was known."""
        seq = self.waiting.pop(seq_id, None) or self.running.pop(seq_id, None)
        if seq is not None:
            seq.status = SeqStatus.FINISHED
        return seq is not None

    def finish(self, seq_id: str) -> None:
        seq = self.running.pop(seq_id)
        seq.status = SeqStatus.FINISHED

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def backpressure(self) -> float:
        """0..1: how full the waiting queue is (1 = describe() refuses new requests)."""
        return min(1.0, len(self.waiting) / self.max_queue)

    # -- policy --------------------------------------------------------------------------
    def priority(self, seq: SeqInfo, now: float, camera_slots: int = 0) -> float:
        p = self.policy
        score = p.severity_weight * seq.severity + p.aging_per_second * max(0.0, now - seq.arrival)
        if seq.deadline is not None:
            left = seq.deadline - now
            score += p.urgency_weight * min(1.0, max(0.0, 1.0 - left / p.deadline_horizon_s))
        return score - p.camera_share * camera_slots

    def _camera_slots(self) -> dict[str, int]:
        slots: dict[str, int] = {}
        for seq in self.running.values():
            slots[seq.camera_id] = slots.get(seq.camera_id, 0) + 1
        return slots

    def _drop_expired(self, now: float) -> list[str]:
        if not self.policy.drop_expired:
            return []
        expired = [s.seq_id for s in self.waiting.values()
                   if s.deadline is not None and s.deadline < now]
        for seq_id in expired:
            self.waiting.pop(seq_id).status = SeqStatus.FINISHED
        return expired

    def _admit(self, now: float) -> list[str]:
        free = self.max_batch_size - len(self.running)
        slots = self._camera_slots()
        candidates = dict(self.waiting)
        admitted: list[str] = []
        tokens = 0
        while free > 0 and candidates:
            best = max(candidates.values(),
                       key=lambda s: (self.priority(s, now, slots.get(s.camera_id, 0)), -s.arrival))
            if admitted and tokens + best.prompt_tokens > self.max_prefill_tokens:
                break  # the best waits for the next prefill; lower ones must not jump it
            del candidates[best.seq_id]
            admitted.append(best.seq_id)
            tokens += best.prompt_tokens
            slots[best.camera_id] = slots.get(best.camera_id, 0) + 1
            free -= 1
        return admitted

    # -- one step ------------------------------------------------------------------------
    def schedule(self, now: float) -> Plan:
        """Decide the next step: prefill newly admitted requests if a slot is free,
        else one decode step of every running request."""
        expired = self._drop_expired(now)
        owed = self.running and self._decodes_since_prefill < self.policy.decode_steps_between_prefills
        admitted = self._admit(now) if self.waiting and not owed else []
        if admitted:
            for seq_id in admitted:
                seq = self.waiting.pop(seq_id)
                seq.status = SeqStatus.RUNNING
                seq.admitted_at = now
                self.running[seq_id] = seq
            self._decodes_since_prefill = 0
            return Plan(Batch("prefill", tuple(admitted)), expired)
        if self.running:
            self._decodes_since_prefill += 1
            return Plan(Batch("decode", tuple(self.running)), expired)
        return Plan(None, expired)
