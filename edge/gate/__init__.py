"""The edge gate: motion (stage 0) then a small detector (stage 1); see cascade.py."""
from edge.gate.base import DetectorStage, GateResult, GateStage, MotionStage, Region
from edge.gate.cascade import GateCascade
from edge.gate.config import GateConfig, HogConfig, MotionConfig, YoloConfig
from edge.gate.factory import build_detector
from edge.gate.hog import HogPersonDetector
from edge.gate.motion import MotionGate
from edge.gate.yolo import YoloDetector

__all__ = ["DetectorStage", "GateCascade", "GateConfig", "GateResult", "GateStage", "HogConfig", "HogPersonDetector",
           "MotionConfig", "MotionGate", "MotionStage", "Region", "YoloConfig", "YoloDetector", "build_detector"]
