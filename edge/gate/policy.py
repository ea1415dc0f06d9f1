"""When does stage 1 run, and does a frame pass — pure bookkeeping, no OpenCV, no clock.

The cascade asks ``decide`` before running the detector and reports back with
``after_detect``. Three ideas, all from deployed NVRs rather than from DAT, which
says nothing about scheduling:
- *Skip* (stage 0 closes the gate): no motion and nothing recently seen.
- *Coast* (DeepStream's ``interval``): while objects of interest were found less
  than ``detect_interval_s`` ago and every motion region touches one of them, the
  detector is not run again; the frame passes with the remembered boxes and the
  tracker keeps the ids. A scene change (most of the frame changed at once: a
  cut, a pan, lights) always forces a fresh detection because old boxes are stale.
- *Hold* (Frigate's ``max_disappeared``): a detector miss within ``hold_s`` of the
  last positive still passes (without boxes), and so does a motionless frame
  (a person standing still makes no motion); this bridges the fallback
  detector's single-frame misses. Precision pays for at most ``hold_s`` per exit.
  While holding, the remembered boxes stay, so the frames between detector runs
  coast as above instead of re-running a detector that just missed.
- *Camera motion* (a pan, a cut, a shaking mast, a film montage): when motion
  covers at least ``camera_motion_fraction`` of the frame, or stage 0 reports a
  scene change, the regions say nothing about where objects are and every frame
  would otherwise get a full-frame search. Then the detector runs at most every
  ``camera_motion_interval_s`` (like Frigate re-detecting on its detect fps rather
  than on motion); frames in between coast on the remembered boxes when something
  was seen within ``hold_s`` (reason ``camera-motion``), else are skipped
  (``camera-motion-skip``). Off by default (interval 0): on the montage clip a
  person's first frame is often a cut, and skipping it cost recall (0.59 at
  0.4 s on bikes.mp4, benchmarks/edge_gate.py policy sweep).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from edge.detection import Detection

Box = tuple[float, float, float, float]


class Action(str, Enum):
    SKIP = "skip"        # gate closed, detector not run
    DETECT = "detect"    # run stage 1
    COAST = "coast"      # pass on remembered detections, detector not run


@dataclass
class Decision:
    action: Action
    reason: str
    detections: list[Detection] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.action == Action.COAST


def _touches(region: Box, box: Box, margin: float) -> bool:
    mx, my = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    return not (region[2] < box[0] - mx or region[0] > box[2] + mx or region[3] < box[1] - my or region[1] > box[3] + my)


class GatePolicy:
    def __init__(self, hold_s: float = 1.0, detect_interval_s: float = 0.0, coast_margin: float = 0.5,
                 camera_motion_fraction: float = 1.0, camera_motion_interval_s: float = 0.0):
        self.camera_motion_fraction = camera_motion_fraction
        self.camera_motion_interval_s = camera_motion_interval_s
        self.hold_s = hold_s
        self.detect_interval_s = detect_interval_s
        self.coast_margin = coast_margin
        self.reset()

    def reset(self) -> None:
        self.memory: list[Detection] = []
        self.last_positive: float | None = None     # capture time of the last frame the detector confirmed
        self.last_run: float | None = None          # capture time of the last detector run

    def _recent(self, t: float) -> bool:
        return self.last_positive is not None and 0.0 <= t - self.last_positive <= self.hold_s

    def _recall(self) -> list[Detection]:
        # copies: downstream (the tracker) writes track ids into the detections it is given
        return [replace(d) for d in self.memory]

    def decide(self, t: float, regions: list[Box], scene_change: bool = False, motion_fraction: float = 0.0) -> Decision:
        """``motion_fraction``: share of the frame the regions cover (camera-motion test)."""
        if not regions:
            if self._recent(t):
                return Decision(Action.COAST, "stationary", self._recall())
            return Decision(Action.SKIP, "no-motion")
        camera_motion = scene_change or motion_fraction >= self.camera_motion_fraction
        if (camera_motion and self.camera_motion_interval_s > 0.0 and self.last_run is not None
                and 0.0 <= t - self.last_run < self.camera_motion_interval_s):
            if self.memory and self._recent(t):
                return Decision(Action.COAST, "camera-motion", self._recall())
            return Decision(Action.SKIP, "camera-motion-skip")
        if (not scene_change and self.memory and self._recent(t) and self.last_run is not None
                and 0.0 <= t - self.last_run < self.detect_interval_s
                and all(any(_touches(r, d.box(), self.coast_margin) for d in self.memory) for r in regions)):
            return Decision(Action.COAST, "tracked", self._recall())
        return Decision(Action.DETECT, "motion")

    def after_detect(self, t: float, detections: list[Detection]) -> tuple[bool, str]:
        """Record a detector run on the frame at ``t``; returns (passed, reason)."""
        self.last_run = t
        if detections:
            self.memory = list(detections)
            self.last_positive = t
            return True, "detected"
        if self._recent(t):
            # Keep the boxes: the next frame may coast on them, so a flickering detector is asked
            # at most every detect_interval_s while we hold, not on every frame.
            return True, "held"
        self.memory = []
        return False, "nothing-detected"
