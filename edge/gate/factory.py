"""Choose the stage-1 detector and say in the log which one runs.

In order of preference for ``detector: auto``:
1. the weights as an ONNX export (``gate.weights`` itself when it ends in ``.onnx``, else
   the same name with ``.onnx``), run by ONNX Runtime — the slim edge install's detector;
2. the weights through Ultralytics (``.pt``, ``*_openvino_model/``, ``.yaml``) when the
   ``export`` extra is installed and the weights are local or ``gate.yolo.download`` is on;
3. OpenCV's HOG people detector with its Haar fallbacks (people only).
``detector: yolo`` takes 1 or 2 and fails loudly; ``detector: hog`` takes 3.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from edge.gate.base import DetectorStage
from edge.gate.config import GateConfig
from edge.gate.hog import HogPersonDetector

log = logging.getLogger("vigil.edge")

ONNX_SUFFIX = ".onnx"


def onnx_candidate(weights: str) -> str | None:
    """A local ONNX file for `weights` (itself, or the same stem with .onnx), if there is one."""
    from edge.gate.yolo import find_weights
    name = weights if weights.endswith(ONNX_SUFFIX) else str(Path(weights).with_suffix(ONNX_SUFFIX))
    return find_weights(name)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def build_detector(cfg: GateConfig) -> DetectorStage:
    if cfg.detector == "hog":
        return HogPersonDetector(cfg.hog)
    from edge.gate.yolo import YoloDetector, find_weights
    onnx = onnx_candidate(cfg.weights)
    if onnx is not None and _has("onnxruntime"):
        from edge.gate.onnx_yolo import OnnxYoloDetector
        return OnnxYoloDetector(onnx, cfg.yolo)
    ultralytics = _has("ultralytics")
    if cfg.detector == "yolo":
        if not ultralytics:
            raise FileNotFoundError(f"gate.detector=yolo: no ONNX export of {cfg.weights!r} found and ultralytics is not "
                                    "installed (pip install 'vigil[export]', or give an .onnx in gate.weights)")
        return YoloDetector(cfg.weights, cfg.yolo)     # errors are the user's to see
    # auto
    if not ultralytics:
        log.warning("gate: no ONNX export of %r found (looked beside it and in $VIGIL_WEIGHTS_DIR) and ultralytics is "
                    "not installed; falling back to the OpenCV HOG people detector (people only)", cfg.weights)
        return HogPersonDetector(cfg.hog)
    if find_weights(cfg.weights) is None and not cfg.yolo.download:
        log.warning("gate: YOLO weights %r not found locally (gate.yolo.download is off); "
                    "falling back to the OpenCV HOG people detector (people only)", cfg.weights)
        return HogPersonDetector(cfg.hog)
    try:
        return YoloDetector(cfg.weights, cfg.yolo)
    except Exception as exc:  # noqa: BLE001 - any load failure means: use the fallback, loudly
        log.warning("gate: YOLO weights %r could not be loaded (%s: %s); falling back to the OpenCV HOG people "
                    "detector (people only)", cfg.weights, type(exc).__name__, exc)
        return HogPersonDetector(cfg.hog)

