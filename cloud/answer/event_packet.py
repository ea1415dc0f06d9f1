"""One event packet as the alerts read it: a typed, frozen value built once from the wire packet
(cloud/answer/packet_facts.py ``event_packet``), so the alert layer reads plain data and imports no protobuf."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EventPacket:
    edge_id: str
    camera_id: str
    event_id: str
    event_onset: float                                        # unix s at the edge (the capture time if unset)
    labels: dict[str, int] = field(default_factory=dict)      # label -> count
    detections: tuple[dict[str, Any], ...] = ()               # label, score, track_id, box in source pixels
    severity: float = 0.0
    hints: dict[str, Any] = field(default_factory=dict)       # packet_facts.packet_hints: counts, zone, event_stage...
    sequence: int = 0                                         # the edge's packet number (per camera)
