"""Semantic prompting (DAT): the per-event context the edge sends with a frame.

The keys match ``vigil.v1.SemanticHints`` field for field, so the client can do
``SemanticHints(**semantic_hints(event))``.
"""
from __future__ import annotations

from edge.events.event import Event


def semantic_hints(event: Event) -> dict:
    return {
        "counts": {k: int(v) for k, v in event.labels.items()},
        "zone": event.zone,
        "dwell_seconds": float(event.dwell_seconds),
        "camera_name": event.camera_name,
        "severity": float(event.severity),
        "rule": event.rule,
        "event_stage": event.stage,
        "escalation": event.escalation,
        "ended_at": float(event.ended_at or 0.0),
        "duration_s": float(event.duration) if event.ended_at is not None else 0.0,
        "merged_into": event.merged_into,
    }


def describe(event: Event) -> str:
    """One line of plain English for prompts and logs: "2 persons in zone 'gate' for 12 s (rule loiter)"."""
    parts = [f"{n} {lab}{'s' if n != 1 else ''}" for lab, n in sorted(event.labels.items())] or ["objects"]
    text = " and ".join(parts)
    if event.zone:
        text += f" in zone '{event.zone}'"
    if event.dwell_seconds >= 1.0:
        text += f" for {event.dwell_seconds:.0f} s"
    return f"{text} on camera '{event.camera_name}' (rule {event.rule}, {event.stage})"
