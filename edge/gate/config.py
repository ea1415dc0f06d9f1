"""Gate configuration (shared by every camera of an agent; per-camera filters live in CameraConfig)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    frame_height: int = Field(120, ge=32, description="motion runs on a grey frame downscaled to this height")
    blur: int = Field(5, ge=1, description="Gaussian blur kernel (odd) against sensor noise")
    threshold: int = Field(20, ge=1, le=255, description="per-pixel grey difference that counts as change")
    min_area: float = Field(0.002, ge=0.0, le=1.0, description="smallest motion region, fraction of the frame")
    alpha: float = Field(0.2, gt=0.0, le=1.0, description="background running-average rate per processed frame")
    warmup_frames: int = Field(2, ge=0, description="frames used only to learn the background")
    margin: float = Field(0.15, ge=0.0, description="grow each region by this fraction of its size before cropping")
    merge_gap: float = Field(0.05, ge=0.0, description="merge regions closer than this fraction of the frame")


class HogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    win_stride: int = Field(8, ge=4)
    padding: int = Field(8, ge=0)
    scale: float = Field(1.05, gt=1.0)
    hit_threshold: float = Field(0.0, description="SVM margin a window needs (OpenCV's hitThreshold)")
    min_height: int = Field(256, ge=64, description="upscale smaller frames/crops: the 64x128 window is larger than a person in a 176x144 frame")
    haar: bool = Field(True, description="also run OpenCV's shipped Haar cascades (frontal face, upper body) for people too close or too seated for HOG")


class YoloConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    imgsz: int = Field(640, ge=32)
    device: str = "cpu"
    download: bool = Field(False, description="let ultralytics fetch missing weights (connected sites only)")
    iou: float = Field(0.45, gt=0.0, le=1.0)


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    detector: Literal["auto", "yolo", "hog"] = Field(
        "auto", description="auto: YOLO when its weights can be had, else the HOG/Haar fallback (logged)")
    weights: str = Field("yolov8n.pt", description="path or name: *.pt, *.onnx, *_openvino_model/, or *.yaml (random init, tests)")
    crop_to_motion: bool = Field(True, description="run the detector on motion crops when they cover less of the frame than max_crop_fraction")
    max_crop_fraction: float = Field(0.6, gt=0.0, le=1.0)
    track_hold_s: float = Field(1.0, ge=0.0, description="keep passing frames this long after the last detection while motion continues")
    motion: MotionConfig = Field(default_factory=MotionConfig)
    hog: HogConfig = Field(default_factory=HogConfig)
    yolo: YoloConfig = Field(default_factory=YoloConfig)
