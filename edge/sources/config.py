"""Per-camera configuration: where frames come from and what this camera cares about.

One ``CameraConfig`` per camera (Frigate's model: the camera block carries its own
objects, filters, zones and masks). Geometry (zones, masks) is given in *relative*
coordinates, fractions 0..1 of the frame width/height, so a config survives a
change of stream resolution. ``extra="forbid"`` everywhere: a typo is an error that
names the key.
"""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.detection import COCO_CLASSES

Point = tuple[float, float]


def _check_polygon(points: list[Point], what: str) -> list[Point]:
    if len(points) < 3:
        raise ValueError(f"{what} needs at least 3 points, got {len(points)}")
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"{what} point ({x}, {y}) is outside 0..1 (coordinates are fractions of the frame)")
    return points


def _check_labels(labels: list[str]) -> list[str]:
    unknown = [lab for lab in labels if lab not in COCO_CLASSES]
    if unknown:
        raise ValueError(f"unknown object class {unknown}; use COCO class names such as 'person', 'car', 'bicycle'")
    return labels


class ZoneConfig(BaseModel):
    """A named polygon; an object is in the zone when its bottom-centre point is inside it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="zone name, unique per camera (rules refer to it)")
    polygon: list[Point] = Field(description="at least 3 (x, y) points as fractions of the frame (0..1)")
    objects: list[str] = Field(default_factory=list, description="classes this zone cares about; empty = the camera's objects")

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: list[Point]) -> list[Point]:
        return _check_polygon(v, "zone polygon")

    @field_validator("objects")
    @classmethod
    def _objects(cls, v: list[str]) -> list[str]:
        return _check_labels(v)


class ObjectFilter(BaseModel):
    """Per-class overrides of the camera's ``min_score`` / ``min_area`` (e.g. cars need bigger boxes)."""

    model_config = ConfigDict(extra="forbid")
    min_score: Optional[float] = Field(None, ge=0.0, le=1.0, description="this class's detection score floor (null = the camera's min_score)")
    min_area: Optional[float] = Field(None, ge=0.0, le=1.0, description="this class's smallest box, fraction of the frame (null = the camera's min_area)")


class ReconnectConfig(BaseModel):
    """Backoff for the connecting -> streaming -> stalled -> reconnecting state machine."""

    model_config = ConfigDict(extra="forbid")
    open_timeout_s: float = Field(10.0, gt=0, description="give up on one open attempt after this long")
    read_timeout_s: float = Field(5.0, gt=0, description="no frame for this long = stalled")
    backoff_initial_s: float = Field(0.5, gt=0, description="delay before the first reconnect attempt")
    backoff_max_s: float = Field(30.0, gt=0, description="longest delay between reconnect attempts")
    backoff_factor: float = Field(2.0, ge=1.0, description="each failed attempt multiplies the delay by this")
    jitter: float = Field(0.25, ge=0.0, le=1.0, description="up to this share of each delay is randomly taken off, so cameras don't retry in lockstep")
    failed_after: int = Field(3, ge=1, description="this many failed attempts in a row show the camera as failed (in /healthz, the log and the operator page); it is still retried at the backoff's pace")


class CameraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="camera id, unique per agent (carried in every packet)")
    name: str = Field("", description="human-readable name given to the model and in alerts (default: the id)")
    url: Union[int, str] = Field(description="file path, rtsp://, http(s):// (MJPEG) URL, or a USB device index")
    fps: float = Field(5.0, gt=0, description="processing rate; newer frames replace older ones (latest-frame semantics)")
    loop: bool = Field(False, description="restart a file from the beginning at its end (demo cameras)")
    realtime: Optional[bool] = Field(None, description="pace file reads to the clip's own fps; default False for files, live sources are always real time")
    enabled: bool = Field(True, description="false = configured but not read")
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTP over the RTSP TCP connection (robust through NAT) or UDP")
    # What this camera looks for.
    objects: list[str] = Field(default_factory=lambda: ["person"], description="COCO classes this camera looks for")
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="detections scoring below this are ignored")
    min_area: float = Field(0.0005, ge=0.0, le=1.0, description="minimum box area as a fraction of the frame")
    filters: dict[str, ObjectFilter] = Field(default_factory=dict, description="per-class min_score/min_area overrides")
    zones: list[ZoneConfig] = Field(default_factory=list, description="named polygons that rules can refer to")
    masks: list[list[Point]] = Field(default_factory=list, description="polygons where motion is ignored (timestamps, trees)")
    severity_scale: float = Field(1.0, ge=0.0, description="multiplies the event rules' severity for this camera (a vault door counts more)")
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)

    @field_validator("objects")
    @classmethod
    def _objects(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one object of interest is needed")
        return _check_labels(v)

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, ObjectFilter]) -> dict[str, ObjectFilter]:
        _check_labels(list(v))
        return v

    def min_score_for(self, label: str) -> float:
        f = self.filters.get(label)
        return f.min_score if f is not None and f.min_score is not None else self.min_score

    def min_area_for(self, label: str) -> float:
        f = self.filters.get(label)
        return f.min_area if f is not None and f.min_area is not None else self.min_area

    @field_validator("masks")
    @classmethod
    def _masks(cls, v: list[list[Point]]) -> list[list[Point]]:
        return [_check_polygon(p, f"masks[{i}] polygon") for i, p in enumerate(v)]

    @model_validator(mode="after")
    def _defaults(self) -> "CameraConfig":
        if not self.name:
            self.name = self.id
        names = [z.name for z in self.zones]
        if len(names) != len(set(names)):
            raise ValueError(f"zone names must be unique, got {names}")
        return self

    @property
    def source_kind(self) -> str:
        """``file`` | ``rtsp`` | ``http`` | ``usb``."""
        if isinstance(self.url, int) or (isinstance(self.url, str) and self.url.isdigit()):
            return "usb"
        low = self.url.lower()
        if low.startswith(("rtsp://", "rtsps://", "rtmp://")):
            return "rtsp"
        if low.startswith(("http://", "https://")):
            return "http"
        return "file"

    @property
    def is_live(self) -> bool:
        return self.source_kind != "file"

    @property
    def paced(self) -> bool:
        return True if self.is_live else bool(self.realtime)
