"""Event rules and tracker settings (per agent; zones themselves belong to each camera)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.detection import COCO_CLASSES


class RuleConfig(BaseModel):
    """When does a tracked object (or a crowd of them) become an event, and how much does it matter.

    kind: ``object`` any tracked object of interest; ``zone`` an object inside ``zone``;
    ``dwell`` an object that stayed ``dwell_s`` seconds (inside ``zone`` if given: loitering);
    ``count`` at least ``min_count`` objects at once (inside ``zone`` if given).
    ``severity`` is the event's semantic weight, which transmission uses to rank streams.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="rule name, unique (named in alerts and the prompt)")
    kind: Literal["object", "zone", "dwell", "count"] = Field(
        description="object: any tracked object; zone: one inside `zone`; dwell: one staying `dwell_s`; count: `min_count` at once")
    objects: list[str] = Field(default_factory=list, description="empty = the camera's objects of interest")
    zone: Optional[str] = Field(None, description="zone the rule applies to (required for kind zone)")
    dwell_s: float = Field(0.0, ge=0.0, description="seconds an object must stay before a dwell rule fires")
    min_count: int = Field(1, ge=1, description="objects present at once for a count rule")
    severity: float = Field(0.5, ge=0.0, description="the event's semantic weight (transmission ranks streams by it)")
    cameras: list[str] = Field(default_factory=list, description="empty = every camera")

    @field_validator("objects")
    @classmethod
    def _objects(cls, v: list[str]) -> list[str]:
        unknown = [o for o in v if o not in COCO_CLASSES]
        if unknown:
            raise ValueError(f"unknown object class {unknown}; use COCO class names such as 'person', 'car'")
        return v

    @model_validator(mode="after")
    def _kind_needs(self) -> "RuleConfig":
        if self.kind == "zone" and not self.zone:
            raise ValueError(f"rule {self.name!r}: kind 'zone' needs a zone name")
        if self.kind == "dwell" and self.dwell_s <= 0:
            raise ValueError(f"rule {self.name!r}: kind 'dwell' needs dwell_s > 0")
        if self.kind == "count" and self.min_count < 2:
            raise ValueError(f"rule {self.name!r}: kind 'count' needs min_count >= 2 (1 is the 'object' rule)")
        return self


class TrackerConfig(BaseModel):
    """How detections become tracked objects (edge/events/object_tracker.py; ``kind: iou`` is the plain
    IoU tracker it replaced, kept as the baseline benchmarks/lifecycle.py compares against)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["object", "iou"] = Field(
        "object", description="object: motion + appearance re-association, scene-cut hold, duplicate merge; iou: plain IoU tracking (baseline)")
    match_iou: float = Field(0.2, gt=0.0, le=1.0, description="minimum IoU (after motion prediction) to continue a track")
    high_score: float = Field(0.6, ge=0.0, le=1.0, description="ByteTrack split: detections above start tracks, below only continue them")
    min_hits: int = Field(2, ge=1, description="detections before a track is confirmed (suppresses one-frame false hits)")
    max_age_s: float = Field(2.0, gt=0.0, description="a track unseen this long is over, and so is its event (the longest gap a track survives)")
    occlusion_max_age_s: float = Field(4.0, gt=0.0, description="a confirmed track lost inside the picture (hidden behind a pillar or another person, or missed by the detector) survives this long if it looks the same when found again; one lost at the picture's edge has left and ends after max_age_s (never less than max_age_s)")
    gate_diagonals: float = Field(1.5, gt=0.0, description="a lost track continues with a detection at most this many box diagonals from its predicted place (if it looks alike)")
    appearance_max: float = Field(0.45, gt=0.0, le=1.0, description="colour-histogram distance (0 same, 1 disjoint) below which a non-overlapping detection may continue a track")
    appearance_veto: float = Field(0.6, gt=0.0, le=1.0, description="colour-histogram distance above which a detection never continues a track it missed (someone else walked in)")
    appearance_update: float = Field(0.3, gt=0.0, le=1.0, description="weight of the newest crop in a track's running colour histogram")
    cut_hold_s: float = Field(1.0, ge=0.0, description="after a scene cut or camera move: no new tracks are confirmed for this long; old ones re-associate by appearance")
    cut_pixel_threshold: float = Field(0.25, gt=0.0, le=1.0, description="mean grey change of the whole frame (0..1) that, with the histogram change, is a scene cut")
    cut_hist_threshold: float = Field(0.3, gt=0.0, le=1.0, description="grey-histogram change of the whole frame (0..1) that, with the pixel change, is a scene cut")
    merge_overlap: float = Field(0.5, gt=0.0, le=1.0, description="two tracks overlapping this much (IoU, or half the nested share) may be one object seen twice")
    merge_velocity: float = Field(0.5, ge=0.0, description="... when their velocities differ by less than this many box diagonals per second")
    merge_frames: int = Field(2, ge=1, description="... for this many frames in a row: then the younger merges into the older")
    stationary_max_s: float = Field(300.0, ge=0.0, description="a confirmed object where the gate sees no motion stays tracked (not aged) at most this long after its last detection (0 = never)")
    history_points: int = Field(64, ge=2, description="foot points kept per track (dwell and paths; bounded for all-day tracks)")


class EventsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[RuleConfig] = Field(default_factory=lambda: [RuleConfig(name="object", kind="object", severity=0.5)],
                                    description="when tracked objects become events, and how much each matters")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    update_interval_s: float = Field(2.0, gt=0.0, description="an open event sends an update at most this often unless it escalates")

    @model_validator(mode="after")
    def _unique(self) -> "EventsConfig":
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError(f"rule names must be unique, got {names}")
        return self
