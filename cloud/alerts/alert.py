"""The alert payload users receive, one JSON body per stage.

Stage ``detected`` is emitted as soon as the edge's detection reaches the
cloud; stage ``described`` follows under the same ``alert_id`` with the
model's description, or with ``description_status`` ``timeout``/``error`` after
the deadline, so a slow model never holds an alert back.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Stage = Literal["detected", "described"]
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

    @property
    def idempotency_key(self) -> str:
        """One id per alert stage, the same on every retry and after restarts (receivers drop repeats)."""
        return f"{self.alert_id}.{self.stage}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()
