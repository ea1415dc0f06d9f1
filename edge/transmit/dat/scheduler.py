"""Multi-stream message scheduler across cameras (DAT, arXiv 2604.05375).

The paper asks that "the most important semantic content arrives first and evidence follows";
it does not say how cameras share the link. Our choices:

* Strict precedence between classes: ALERT_METADATA > SEMANTIC_FRAME > EVIDENCE > CONTEXT
  (``vigil.v1.PriorityClass`` values 1..4, lower value first). Alerts are tiny and bounded by the
  event rate, so strict precedence cannot starve the rest for long.
* Within a class, messages with a deadline go earliest-deadline-first while the deadline can still
  be met; otherwise the semantic weight (event severity) times waiting time decides:
  ``score = max(severity, MIN_WEIGHT) * (age + AGE_BIAS_S)``. A low-severity camera's message
  gains score linearly with age, so it always wins eventually (no starvation across cameras).
* No starvation across classes: a message below SEMANTIC_FRAME that has waited
  ``promote_after_s`` competes one class higher (at most up to SEMANTIC_FRAME; alerts stay alone).
* Pressure: when the backlog would take longer than ``horizon_s`` to drain at the estimated rate,
  context is dropped (lowest score first). Nothing else is ever dropped here: evidence and
  semantic frames are *degraded* by the encoder instead, alerts are never touched.
* Context is coalesced per camera (a newer context frame replaces the queued one): only the
  latest picture of a quiet camera is worth sending.

Pure bookkeeping: the payload is opaque, time is passed in.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from vigil.v1 import vigil_pb2 as pb

MIN_WEIGHT = 0.05   # a severity-0 event still ages into service
AGE_BIAS_S = 1.0    # fresh messages compare by severity; after ~1 s age starts to matter
CLASSES = (pb.ALERT_METADATA, pb.SEMANTIC_FRAME, pb.EVIDENCE, pb.CONTEXT)

_uid = itertools.count()


@dataclass
class Message:
    priority: int                 # pb.PriorityClass value
    camera_id: str
    event_id: str
    severity: float
    created: float
    est_bytes: int
    payload: Any = None
    deadline: float | None = None  # arrival deadline (edge clock), None = none
    coalesce_key: Any = None       # a newer message with the same key replaces this one
    uid: int = field(default_factory=lambda: next(_uid))

    def score(self, now: float) -> float:
        return max(self.severity, MIN_WEIGHT) * (max(0.0, now - self.created) + AGE_BIAS_S)


class MultiStreamScheduler:
    def __init__(self, promote_after_s: float = 10.0) -> None:
        self.promote_after_s = promote_after_s
        self._queues: dict[int, list[Message]] = {c: [] for c in CLASSES}
        self._by_key: dict[Any, Message] = {}
        self.dropped = 0     # shed so far: a count, never the messages (each holds a full frame)

    # ------------------------------------------------------------------ queue
    def push(self, msg: Message) -> Message | None:
        """Queue ``msg``; returns the message it replaced (coalescing), if any."""
        if msg.priority not in self._queues:
            msg.priority = pb.CONTEXT if msg.priority == pb.PRIORITY_UNSPECIFIED else msg.priority
        replaced = None
        if msg.coalesce_key is not None:
            old = self._by_key.pop(msg.coalesce_key, None)
            if old is not None and self._remove(old):
                replaced = old
            self._by_key[msg.coalesce_key] = msg
        self._queues[msg.priority].append(msg)
        return replaced

    def _remove(self, msg: Message) -> bool:
        q = self._queues[msg.priority]
        for i, m in enumerate(q):
            if m.uid == msg.uid:
                del q[i]
                if msg.coalesce_key is not None and self._by_key.get(msg.coalesce_key) is msg:
                    del self._by_key[msg.coalesce_key]
                return True
        return False

    def effective_class(self, msg: Message, now: float) -> int:
        if msg.priority <= pb.SEMANTIC_FRAME:
            return msg.priority
        steps = int(max(0.0, now - msg.created) // self.promote_after_s) if self.promote_after_s > 0 else 0
        return max(pb.SEMANTIC_FRAME, msg.priority - steps)

    def _key(self, msg: Message, now: float) -> tuple:
        feasible_deadline = msg.deadline is not None and msg.deadline >= now
        # Lower tuple = sent first.
        return (self.effective_class(msg, now),
                0 if feasible_deadline else 1,
                msg.deadline if feasible_deadline else 0.0,
                -msg.score(now),
                msg.created)

    def peek(self, now: float) -> Message | None:
        best, best_key = None, None
        for q in self._queues.values():
            for m in q:
                k = self._key(m, now)
                if best_key is None or k < best_key:
                    best, best_key = m, k
        return best

    def pop(self, now: float) -> Message | None:
        m = self.peek(now)
        if m is not None:
            self._remove(m)
        return m

    # --------------------------------------------------------------- pressure
    def backlog_bytes(self, *, up_to_class: int | None = None) -> int:
        return sum(m.est_bytes for c, q in self._queues.items() if up_to_class is None or c <= up_to_class
                   for m in q)

    def shed(self, now: float, rate_bytes_per_s: float, horizon_s: float) -> list[Message]:
        """Drop context while the backlog needs more than ``horizon_s`` at the given rate."""
        shed: list[Message] = []
        budget = rate_bytes_per_s * horizon_s
        ctx = self._queues[pb.CONTEXT]
        while ctx and self.backlog_bytes() > budget:
            victim = min(ctx, key=lambda m: (m.score(now), -m.created))
            self._remove(victim)
            shed.append(victim)
        self.dropped += len(shed)
        return shed

    def drain_all(self) -> list[Message]:
        """Remove and return every queued message in sending order (for spooling)."""
        out: list[Message] = []
        for c in CLASSES:
            out.extend(self._queues[c])
            self._queues[c] = []
        self._by_key.clear()
        return out

    def messages(self) -> list[Message]:
        return [m for c in CLASSES for m in self._queues[c]]

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def count(self, priority: int) -> int:
        return len(self._queues[priority])
