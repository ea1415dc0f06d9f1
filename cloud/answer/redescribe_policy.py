"""When an event that already has its description is described a second time (pure: plain data in, a reason out).

Each event is described once, from its best frame so far. A second description is worth the model's
time only when the user would learn something from it:

- ``escalation``: the edge reports an escalation update (the object entered a zone, a dwell rule's
  time was reached, a more severe rule matched, a count changed); the situation the first
  description told of has changed.
- ``end``: the object has left and the edge sends its best snapshot; it is described again only
  when that snapshot shows more than the frame the description was made from: the labels or counts
  differ, or the view is materially better (``min_quality_gain`` times the quality).

The view's quality is what the edge's key-frame choice maximises (edge/events/keyframe.py), as far as
the packet carries it: detector score x sqrt(box area / frame area), the best over the frame's boxes.
Sharpness is measured on the edge and not sent, so it is not part of the comparison here.

Never before the first description is done (``ok``): an event still waiting for it gets the newer
frame in the queued job instead (cloud/answer/describe.py), and an event whose first description
timed out or failed is not re-described (its alert already said why there is none). The frame
compared against is the one the alert's latest description was made from, so an end after an
escalation's re-description is judged against the escalation's frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

RedescribeReason = Literal["escalation", "end"]


@dataclass(frozen=True)
class FrameView:
    """What one frame of an event shows, as far as choosing a description goes."""

    labels: tuple[tuple[str, int], ...]   # (label, count), sorted: comparable and hashable
    quality: float                        # max over boxes of score x sqrt(box area fraction), 0..1


def frame_view(labels: dict[str, int], detections: list[dict], source_width: int, source_height: int) -> FrameView:
    """The view of a packet's frame from its labels and detections (boxes in source-frame pixels)."""
    area = float(source_width * source_height)
    quality = 0.0
    for d in detections:
        x1, y1, x2, y2 = (float(v) for v in d.get("box", (0, 0, 0, 0)))
        frac = max(0.0, x2 - x1) * max(0.0, y2 - y1) / area if area > 0 else 0.0
        quality = max(quality, float(d.get("score", 0.0)) * math.sqrt(min(1.0, frac)))
    return FrameView(labels=tuple(sorted((str(k), int(v)) for k, v in labels.items() if int(v) > 0)),
                     quality=round(quality, 6))


@dataclass(frozen=True)
class RedescribeRule:
    """The knobs (cloud config ``alerts.redescribe``), as plain data."""

    on_escalation: bool = True
    on_end: bool = True
    min_quality_gain: float = 1.25


def redescribe_reason(rule: RedescribeRule, *, stage: str, escalation: str, first_done: bool,
                      described: FrameView | None, now: FrameView) -> RedescribeReason | None:
    """Why the event should be described again from the frame whose view is ``now``, or None.

    ``stage``/``escalation``: the packet's lifecycle hints; ``first_done``: the alert's description is
    ``ok``; ``described``: the view of the frame that description was made from (None when unknown,
    e.g. an alert taken over from an earlier process: nothing to compare, so no second description)."""
    if not first_done or described is None:
        return None
    if stage == "update" and escalation:
        return "escalation" if rule.on_escalation else None
    if stage == "end" and rule.on_end:
        if now.labels != described.labels:
            return "end"
        if now.quality >= rule.min_quality_gain * described.quality and now.quality > described.quality:
            return "end"
    return None
