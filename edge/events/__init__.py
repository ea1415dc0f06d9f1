"""Tracking, event lifecycle and rules, key frames, visual guidance and semantic hints."""
from edge.events.config import EventsConfig, RuleConfig, TrackerConfig
from edge.events.event import Event, EventUpdate
from edge.events.guidance import Guidance, RoiCrop, draw_boxes, roi_crops, visual_guidance
from edge.events.hints import describe, semantic_hints
from edge.events.tracker import EventTracker
from edge.events.iou_tracker import IouTracker, Track
from edge.events.zones import in_zone, point_in_polygon

__all__ = ["Event", "EventTracker", "EventUpdate", "EventsConfig", "Guidance", "IouTracker", "RoiCrop", "RuleConfig",
           "Track", "TrackerConfig", "describe", "draw_boxes", "in_zone", "point_in_polygon", "roi_crops",
           "semantic_hints", "visual_guidance"]
