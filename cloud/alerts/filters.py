"""Which alerts a sink wants: per-endpoint filters on camera, label and severity (Frigate-style).

An empty list means "any". Every stage of an alert (detected, updated, ended, described) carries
the same camera, labels and severity, so a sink gets all of an alert's stages or none of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cloud.alerts.alert import Alert


@dataclass(frozen=True)
class AlertFilter:
    cameras: frozenset[str] = field(default_factory=frozenset)
    labels: frozenset[str] = field(default_factory=frozenset)
    min_severity: float = 0.0

    def matches(self, alert: Alert) -> bool:
        if self.cameras and alert.camera_id not in self.cameras:
            return False
        if self.labels and not (self.labels & {k for k, v in alert.labels.items() if v}):
            return False
        return alert.severity >= self.min_severity
