"""Tracking, event lifecycle and rules, key frames and semantic hints (one event = one object: docs/events.md).

Exports resolve lazily, so reading `EventsConfig` imports no OpenCV.
"""
from __future__ import annotations

from vigil.lazy import lazy_exports

_EXPORTS = {
    "EventsConfig": "edge.events.config", "RuleConfig": "edge.events.config", "TrackerConfig": "edge.events.config",
    "Event": "edge.events.event", "EventUpdate": "edge.events.event",
    "describe": "edge.events.hints", "semantic_hints": "edge.events.hints",
    "EventTracker": "edge.events.tracker",
    "IouTracker": "edge.events.iou_tracker", "Track": "edge.events.iou_tracker",
    "ObjectTracker": "edge.events.object_tracker", "ObjectTrack": "edge.events.object_tracker",
    "SceneCutDetector": "edge.events.scene_cut",
    "in_zone": "edge.events.zones", "point_in_polygon": "edge.events.zones",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
