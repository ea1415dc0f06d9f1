"""The edge gate: motion (stage 0) then a small detector (stage 1); see cascade.py and policy.py."""
from edge.gate.base import DetectorStage, GateResult, GateStage, MotionStage, Region
from edge.gate.cascade import GateCascade
from edge.gate.config import GateConfig, HogConfig, MotionConfig, YoloConfig
from edge.gate.factory import build_detector
from edge.gate.haar import HaarPersonFinder
from edge.gate.hog import HogPersonDetector
from edge.gate.motion import MotionGate
from edge.gate.policy import Action, Decision, GatePolicy
from edge.gate.yolo import YoloDetector, find_weights

__all__ = ["Action", "Decision", "DetectorStage", "GateCascade", "GateConfig", "GatePolicy", "GateResult", "GateStage",
           "HaarPersonFinder", "HogConfig", "HogPersonDetector", "MotionConfig", "MotionGate", "MotionStage", "Region",
           "YoloConfig", "YoloDetector", "build_detector", "find_weights"]
