"""Admission control of the cloud's ingest: a byte budget, context shed first, alerts never.

The ingest holds frames in two places: a packet from its receipt until its Ack (while its JPEG
waits for or goes through a decoder thread) and a decoded image until the model has described it.
Those bytes are counted against ``server.admission_budget_bytes``; what is admitted when the count
is high follows the value of the frame to an operator, after the overload control of SEDA (Welsh
& Culler, "Adaptive Overload Control for Busy Internet Servers", USITS 2003: each stage admits by
class and rejects the least valuable work first, with an explicit error rather than a silent
drop). Welsh & Culler drive admission by response time; we drive it by bytes held, because memory
is what must stay bounded, and leave latency to the edges, which slow down on the backpressure
hint that ``pressure`` feeds.

Priority order:

1. Alert-bearing packets (ALERT_METADATA; SEMANTIC_FRAME, or an unclassed frame, of an event;
   EVIDENCE, the event's key frame) are always admitted and their alert is always raised.
2. Context frames (CONTEXT, or any frame of no event) are admitted while the held bytes stay below
   ``context_share`` of the budget; above it they are *shed*: acknowledged with status shed (not
   kept, not to be resent; the edge counts them) so they cost nothing further.
3. Past the whole budget an alert-bearing frame is *degraded*, not refused: its alert is raised as
   usual, but the image held for the model is decoded at reduced resolution (a quarter of the
   bytes), so a backlog of descriptions grows four times slower.

Choices where the paper is vague for us: two thresholds, not a controller with a target (a
deployment sizes one number, the budget; context yields at half of it by default so the alerts'
images always have the other half); a frame that alone exceeds what is left is judged like any
other (the budget is a level, not a reservation). Pure bookkeeping: no I/O, no clock, no protobuf.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    ADMIT = "admitted"      # kept in full
    DEGRADE = "degraded"    # kept, its image for the model at reduced resolution (alert-bearing only)
    SHED = "shed"           # refused: acknowledged as shed, not kept, not to be resent (context only)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""


ADMITTED = Decision(Verdict.ADMIT)


class AdmissionBudget:
    """Bytes of frames held by the ingest, and the admission decision for the next frame."""

    def __init__(self, budget_bytes: int, context_share: float):
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be positive")
        if not 0.0 < context_share <= 1.0:
            raise ValueError("context_share is a fraction in (0, 1]")
        self.budget_bytes = budget_bytes
        self.context_limit = int(budget_bytes * context_share)
        self.held_bytes = 0
        self.peak_bytes = 0

    def decide(self, alert_bearing: bool, nbytes: int) -> Decision:
        """What to do with a frame of ``nbytes`` (its serialized size) that has not been held yet."""
        after = self.held_bytes + nbytes
        if not alert_bearing:
            if after > self.context_limit:
                return Decision(Verdict.SHED, f"ingest holds {self.held_bytes} bytes of frames, context is "
                                              f"admitted below {self.context_limit}: frame not kept, do not resend")
            return ADMITTED
        if after > self.budget_bytes:
            return Decision(Verdict.DEGRADE, f"ingest holds {self.held_bytes} bytes of frames, over its budget "
                                             f"of {self.budget_bytes}: alert raised, its image kept at reduced resolution")
        return ADMITTED

    def hold(self, nbytes: int) -> None:
        self.held_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, self.held_bytes)

    def release(self, nbytes: int) -> None:
        if nbytes > self.held_bytes:
            raise ValueError(f"released {nbytes} bytes but only {self.held_bytes} are held")
        self.held_bytes -= nbytes

    def pressure(self) -> float:
        """0 = nothing held, 1 = context is being shed (the backpressure edges scale their budgets by)."""
        return min(1.0, self.held_bytes / self.context_limit)
