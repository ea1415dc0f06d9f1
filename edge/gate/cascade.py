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
Frames wider than ``detect_width`` are shrunk once and both stages run on the
small copy (resolution.py); results are mapped back to source pixels.
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
from edge.gate.resolution import detection_to_source, region_to_source, to_detect_size
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
        self.policy = GatePolicy(self.cfg.hold_s, self.cfg.detect_interval_s, self.cfg.coast_margin,
                                 self.cfg.camera_motion_fraction, self.cfg.camera_motion_interval_s)
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

    def _run_detector(self, image, regions: list[tuple] | None) -> list[Detection]:
        det = self.detector
        if hasattr(det, "class_ids"):        # YOLO: let the model drop other classes itself
            lowest = min([self.camera.min_score] + [self.camera.min_score_for(o) for o in self._objects])
            return det.detect(image, regions, conf=max(1e-4, min(lowest, 0.25)),
                              classes=det.class_ids(list(self._objects)))
        return det.detect(image, regions)

    def process(self, frame: Frame) -> GateResult:
        H0, W0 = frame.height, frame.width
        self.stats["frames"] += 1
        t0 = time.perf_counter()
        image, scale = to_detect_size(frame.image, self.cfg.detect_width)   # detect pixels from here on
        H, W = image.shape[:2]
        regions = self.motion.detect(image) if self.motion is not None else [(0, 0, W, H)]
        scene_change = bool(self.motion is not None and self.motion.scene_change)
        covered = union_area(regions, W, H)
        motion_ms = (time.perf_counter() - t0) * 1000.0
        if regions:
            self.stats["motion"] += 1
        decision = self.policy.decide(frame.capture_time, regions, scene_change, covered)
        src_regions = [region_to_source(r, scale, W0, H0) for r in regions]
        if decision.action != Action.DETECT:
            if decision.passed:
                self.stats["passed"] += 1
            return GateResult(decision.passed, [detection_to_source(d, scale, W0, H0) for d in decision.detections],
                              src_regions, motion_ms, 0.0, reason=decision.reason)
        crop = self.cfg.crop_to_motion and covered < self.cfg.max_crop_fraction
        t1 = time.perf_counter()
        raw = self._run_detector(image, regions if crop else None)
        detect_ms = (time.perf_counter() - t1) * 1000.0
        self.stats["detector_runs"] += 1
        dets = [d for d in raw if self.accepts(d, W, H)]
        passed, reason = self.policy.after_detect(frame.capture_time, dets)
        if passed:
            self.stats["passed"] += 1
        return GateResult(passed, [detection_to_source(d, scale, W0, H0) for d in dets], src_regions, motion_ms,
                          detect_ms, reason=reason, detector_ran=True)

    def detect_ungated(self, image) -> list[Detection]:
        """The same detector, at the same detect resolution and filters, on the whole frame, with no gate:
        the baseline the gate's cost is compared with (benchmarks/edge_gate.py)."""
        H0, W0 = image.shape[:2]
        small, scale = to_detect_size(image, self.cfg.detect_width)
        H, W = small.shape[:2]
        return [detection_to_source(d, scale, W0, H0) for d in self._run_detector(small, None) if self.accepts(d, W, H)]
