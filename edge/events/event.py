"""Event records and the updates the tracker emits for them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edge.detection import Detection
from edge.frame import Frame

Stage = Literal["new", "update", "end"]


@dataclass
class Event:
    event_id: str
    camera_id: str
    camera_name: str
    onset: float                         # capture time of the first frame that satisfied the rule
    rule: str
    severity: float                      # semantic weight (from the rule, or the camera's override)
    zone: str = ""
    labels: dict[str, int] = field(default_factory=dict)     # label -> how many at once (latest)
    track_ids: list[int] = field(default_factory=list)
    dwell_seconds: float = 0.0
    stage: Stage = "new"
    last_update: float = 0.0             # capture time of the last emitted update
    last_seen: float = 0.0
    ended_at: float | None = None
    key_frame: Frame | None = None
    key_detections: list[Detection] = field(default_factory=list)
    key_quality: float = 0.0
    escalation: str = ""                 # on an update that escalated: "zone" | "dwell" | "rule" | "count"; else ""
    merged_into: str = ""                # on the end of an event found to be a duplicate: the event it merged into

    @property
    def duration(self) -> float:
        """Seconds from onset to the last sighting (to now while open)."""
        return max(0.0, (self.ended_at if self.ended_at is not None else self.last_seen) - self.onset)

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass
class EventUpdate:
    event: Event
    stage: Stage
    frame: Frame | None                  # the frame to send (the key frame on "end")
    detections: list[Detection]
