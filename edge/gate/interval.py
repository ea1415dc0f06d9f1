"""Baseline gate without a motion stage: the detector on every Nth frame, with the cascade's hold.

What an NVR does when it has no motion detector (DeepStream's ``interval``: infer on every
(interval+1)-th frame): stage 1 runs on a fixed schedule, every ``ceil(detect_interval_s x fps)``
frames, on the whole frame (at ``detect_width``, with the camera's filters). Between runs a frame
passes with the remembered boxes while the last positive is within ``hold_s`` (the cascade's
*hold*), else it is skipped. Beside :class:`~edge.gate.cascade.GateCascade` it shows what the
motion stage itself saves (cost) and costs (recall) at the same detector, interval and hold.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

from edge.detection import Detection
from edge.frame import Frame
from edge.gate.base import DetectorStage, GateResult
from edge.gate.cascade import GateCascade
from edge.gate.config import GateConfig
from edge.sources.config import CameraConfig


def interval_frames(detect_interval_s: float, fps: float) -> int:
    """Frames between detector runs: at least one, the interval rounded up to whole frames."""
    return max(1, math.ceil(detect_interval_s * fps - 1e-9))


class IntervalGate:
    def __init__(self, gate_cfg: GateConfig, camera_cfg: CameraConfig, fps: float,
                 detector: DetectorStage | None = None):
        self.cfg = gate_cfg
        # The cascade only lends its detector, detect_width and filters (detect_ungated).
        self._detector = GateCascade(gate_cfg.model_copy(update={"motion": gate_cfg.motion.model_copy(
            update={"enabled": False})}), camera_cfg, detector=detector)
        self.every = interval_frames(gate_cfg.detect_interval_s, fps)
        self.hold_s = gate_cfg.hold_s
        self._frames = 0
        self._last_positive: float | None = None
        self._memory: list[Detection] = []

    def _recent(self, t: float) -> bool:
        return self._last_positive is not None and 0.0 <= t - self._last_positive <= self.hold_s

    def process(self, frame: Frame) -> GateResult:
        i, t = self._frames, frame.capture_time
        self._frames += 1
        if i % self.every:
            if self._recent(t):
                return GateResult(True, [replace(d) for d in self._memory], reason="held")
            return GateResult(False, reason="interval-skip")
        t0 = time.perf_counter()
        dets = self._detector.detect_ungated(frame.image)
        ms = (time.perf_counter() - t0) * 1000.0
        if dets:
            self._memory, self._last_positive = list(dets), t
            return GateResult(True, dets, detect_ms=ms, reason="detected", detector_ran=True)
        if self._recent(t):
            return GateResult(True, [replace(d) for d in self._memory], detect_ms=ms, reason="held",
                              detector_ran=True)
        self._memory = []
        return GateResult(False, detect_ms=ms, reason="nothing-detected", detector_ran=True)
