"""The edge gate: DAT's small-large cascade, edge half (motion -> small detector).

DAT (arXiv 2604.05375) lets a lightweight edge model filter non-target frames so
the cloud MLLM only sees suspicious ones. We read "lightweight model" as two
stages, the way NVRs do it (Frigate): stage 0 motion on a tiny grey frame for
every processed frame; stage 1 a detector only when stage 0 fires, on the motion
crops when they cover less than ``max_crop_fraction`` of the frame (otherwise one
full-frame pass is cheaper than several overlapping crops).

A frame *passes* when the detector finds an object of interest that survives this
camera's filters (class, ``min_score``, ``min_area``). When stage 1 runs, when it
is skipped because tracked objects explain the motion, and how detector misses
are bridged is decided by ``GatePolicy`` (policy.py), which is pure bookkeeping.
"""
from __future__ import annotations

import logging
import time

from edge.detection import Detection
from edge.frame import Frame
from edge.gate.base import DetectorStage, GateResult, MotionStage
from edge.gate.config import GateConfig
from edge.gate.factory import build_detector
from edge.gate.motion import MotionGate
from edge.gate.policy import Action, GatePolicy
from edge.gate.regions import union_area
from edge.sources.config import CameraConfig

log = logging.getLogger(__name__)


class GateCascade:
    def __init__(self, gate_cfg: GateConfig | None = None, camera_cfg: CameraConfig | None = None,
                 detector: DetectorStage | None = None, motion: MotionStage | None = None):
        self.cfg = gate_cfg or GateConfig()
        self.camera = camera_cfg or CameraConfig(id="camera", url="")
        self.motion: MotionStage | None = motion if motion is not None else (
            MotionGate(self.cfg.motion, self.camera.masks) if self.cfg.motion.enabled else None)
        self.detector = detector if detector is not None else build_detector(self.cfg)
        self.policy = GatePolicy(self.cfg.hold_s, self.cfg.detect_interval_s, self.cfg.coast_margin)
        self._objects = set(self.camera.objects)
        missing = self._objects - set(self.detector.labels)
        if missing:
            log.warning("camera %s: detector %s cannot see %s (it knows %s)", self.camera.id, self.detector.name,
                        sorted(missing), sorted(self._objects & set(self.detector.labels)) or "none of them")
        self.stats = {"frames": 0, "motion": 0, "detector_runs": 0, "passed": 0}

    def reset(self) -> None:
        """Forget background and memory (the camera reconnected or the file looped)."""
        if self.motion is not None:
            self.motion.reset()
        self.policy.reset()

    def accepts(self, d: Detection, W: int, H: int) -> bool:
        """Does this camera care about ``d`` (class, min_score, min_area)?"""
        return (d.label in self._objects and d.score >= self.camera.min_score_for(d.label)
                and d.area >= self.camera.min_area_for(d.label) * W * H)

    def _run_detector(self, frame: Frame, regions: list[tuple] | None) -> list[Detection]:
        det = self.detector
        if hasattr(det, "class_ids"):        # YOLO: let the model drop other classes itself
            lowest = min([self.camera.min_score] + [self.camera.min_score_for(o) for o in self._objects])
            return det.detect(frame.image, regions, conf=max(1e-4, min(lowest, 0.25)),
                              classes=det.class_ids(list(self._objects)))
        return det.detect(frame.image, regions)

    def process(self, frame: Frame) -> GateResult:
        H, W = frame.height, frame.width
        self.stats["frames"] += 1
        t0 = time.perf_counter()
        regions = self.motion.detect(frame.image) if self.motion is not None else [(0, 0, W, H)]
        scene_change = bool(self.motion is not None and self.motion.scene_change)
        motion_ms = (time.perf_counter() - t0) * 1000.0
        if regions:
            self.stats["motion"] += 1
        decision = self.policy.decide(frame.capture_time, regions, scene_change)
        if decision.action != Action.DETECT:
            if decision.passed:
                self.stats["passed"] += 1
            return GateResult(decision.passed, decision.detections, list(regions), motion_ms, 0.0, reason=decision.reason)
        crop = self.cfg.crop_to_motion and union_area(regions, W, H) < self.cfg.max_crop_fraction
        t1 = time.perf_counter()
        raw = self._run_detector(frame, regions if crop else None)
        detect_ms = (time.perf_counter() - t1) * 1000.0
        self.stats["detector_runs"] += 1
        dets = [d for d in raw if self.accepts(d, W, H)]
        passed, reason = self.policy.after_detect(frame.capture_time, dets)
        if passed:
            self.stats["passed"] += 1
        return GateResult(passed, dets, list(regions), motion_ms, detect_ms, reason=reason, detector_ran=True)
