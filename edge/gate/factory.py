"""Choose the stage-1 detector: YOLO when its weights can be had, else HOG — and say so in the log."""
from __future__ import annotations

import logging

from edge.gate.base import DetectorStage
from edge.gate.config import GateConfig
from edge.gate.hog import HogPersonDetector

log = logging.getLogger(__name__)


def build_detector(cfg: GateConfig) -> DetectorStage:
    if cfg.detector == "hog":
        return HogPersonDetector(cfg.hog)
    from edge.gate.yolo import YoloDetector, find_weights
    if cfg.detector == "yolo":
        return YoloDetector(cfg.weights, cfg.yolo)     # errors are the user's to see
    # auto
    if find_weights(cfg.weights) is None and not cfg.yolo.download:
        log.warning("gate: YOLO weights %r not found locally (gate.yolo.download is off); "
                    "falling back to the OpenCV HOG people detector", cfg.weights)
        return HogPersonDetector(cfg.hog)
    try:
        return YoloDetector(cfg.weights, cfg.yolo)
    except Exception as exc:  # noqa: BLE001 - any load failure means: use the fallback, loudly
        log.warning("gate: YOLO weights %r could not be loaded (%s: %s); falling back to the OpenCV HOG people detector",
                    cfg.weights, type(exc).__name__, exc)
        return HogPersonDetector(cfg.hog)
