"""The edge gate: motion (stage 0) then a small detector (stage 1); see cascade.py and policy.py.

Exports resolve lazily, so the pure policy and the config import no OpenCV.
"""
from __future__ import annotations

from vigil.lazy import lazy_exports

_EXPORTS = {
    "DetectorStage": "edge.gate.base", "GateResult": "edge.gate.base", "GateStage": "edge.gate.base",
    "MotionStage": "edge.gate.base", "Region": "edge.gate.base",
    "GateCascade": "edge.gate.cascade",
    "GateConfig": "edge.gate.config", "HogConfig": "edge.gate.config", "MotionConfig": "edge.gate.config",
    "YoloConfig": "edge.gate.config",
    "build_detector": "edge.gate.factory",
    "HaarPersonFinder": "edge.gate.haar",
    "HogPersonDetector": "edge.gate.hog",
    "OnnxYoloDetector": "edge.gate.onnx_yolo",
    "MotionGate": "edge.gate.motion",
    "Action": "edge.gate.policy", "Decision": "edge.gate.policy", "GatePolicy": "edge.gate.policy",
    "YoloDetector": "edge.gate.yolo", "find_weights": "edge.gate.yolo",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
