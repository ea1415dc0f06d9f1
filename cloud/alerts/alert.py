"""The alert payload users receive, one JSON body per stage.

Stage ``detected`` is emitted as soon as the edge's detection reaches the
cloud; stage ``described`` follows under the same ``alert_id`` with the
model's description, or with ``description_status`` ``timeout``/``error`` after
the deadline, so a slow model never holds an alert back. Between them and after
them the object's lifecycle (docs/events.md): ``updated`` for each escalation the
edge reports (``escalation`` says why; ``sequence`` is the edge packet's number,
so each update has its own idempotency key), and ``ended`` once the object has
left (``ended_at``, ``duration_s``, ``merged_into``). After ``described`` (``ok``), an event may be
described again (``redescribed``: ``description`` the new one, ``redescribe_reason`` ``escalation`` or
``end``, ``sequence`` the edge packet whose frame was described; cloud/answer/redescribe_policy.py).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Stage = Literal["detected", "updated", "ended", "described", "redescribed"]
DescriptionStatus = Literal["pending", "ok", "timeout", "error"]
# Why a description timed out: the describe queue was full and shed it (``overloaded``), or its
# deadline came first (``deadline``); empty for any other status.
TimeoutReason = Literal["", "overloaded", "deadline"]


@dataclass
class Alert:
    alert_id: str
    stage: Stage
    edge_id: str
    camera_id: str
    event_id: str
    event_onset: float                       # unix s at the edge
    labels: dict[str, int]                   # label -> count
    detections: list[dict[str, Any]]
    severity: float
    hints: dict[str, Any] = field(default_factory=dict)
    description: dict[str, Any] | None = None
    description_status: DescriptionStatus = "pending"
    description_error: str = ""
    timeout_reason: TimeoutReason = ""
    emitted_at: float = field(default_factory=time.time)
    links: dict[str, str] = field(default_factory=dict)  # event, snapshot and page URLs of the operator API
    # Who wrote the description (stage ``described``): {"name", "sees_images"[, "note"]}. A model that
    # cannot see images gets a description built from the edge's measurements (cloud/alerts/seeing.py).
    model: dict[str, Any] | None = None
    # The object's lifecycle, as the edge reported it (stages ``updated`` and ``ended``; defaults elsewhere).
    sequence: int = 0                        # ``updated``: the edge packet's number (per camera, increasing)
    escalation: str = ""                     # ``updated``: zone | dwell | rule | count
    ended_at: float | None = None            # ``ended``: the object's last sighting (unix s at the edge)
    duration_s: float | None = None          # ``ended``: from its first confirmed sighting to its last
    merged_into: str = ""                    # ``ended``: the event this duplicate was merged into, if any
    redescribe_reason: str = ""              # ``redescribed``: escalation | end (why it was described again)

    @property
    def idempotency_key(self) -> str:
        """One id per alert stage, the same on every retry and after restarts (receivers drop repeats);
        an alert has several ``updated`` (and ``redescribed``) stages, told apart by the edge packet that caused each."""
        if self.stage in ("updated", "redescribed"):
            return f"{self.alert_id}.{self.stage}.{self.sequence}"
        return f"{self.alert_id}.{self.stage}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()
