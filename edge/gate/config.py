"""Gate configuration (shared by every camera of an agent; per-camera filters live in CameraConfig)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="false = every frame goes to the detector (no motion stage)")
    frame_height: int = Field(120, ge=32, description="motion runs on a grey frame downscaled to this height")
    blur: int = Field(5, ge=1, description="Gaussian blur kernel (odd) against sensor noise")
    threshold: int = Field(30, ge=1, le=255, description="per-pixel grey difference that counts as change (Frigate's default)")
    min_area: float = Field(0.002, ge=0.0, le=1.0, description="smallest motion region, fraction of the frame")
    alpha: float = Field(1.0, gt=0.0, le=1.0, description="background update rate per processed frame; 1.0 = difference with the previous processed frame")
    warmup_frames: int = Field(1, ge=0, description="frames used only to learn the background (each is sent whole to the detector); with alpha 1.0 one frame is the whole background")
    margin: float = Field(0.15, ge=0.0, description="grow each region by this fraction of its size before cropping")
    merge_gap: float = Field(0.05, ge=0.0, description="merge regions closer than this fraction of the frame")
    compensate_camera_motion: bool = Field(
        True, description="estimate the frame's global shift (phase correlation) and align the background to it "
        "before differencing, so a panning or shaking camera reports the objects moving against the scene, "
        "not the whole frame")


class HogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    win_stride: int = Field(8, ge=4, description="HOG window stride in pixels (OpenCV winStride)")
    padding: int = Field(8, ge=0, description="HOG padding in pixels (OpenCV padding)")
    scale: float = Field(1.05, gt=1.0, description="HOG image-pyramid scale step (OpenCV scale)")
    hit_threshold: float = Field(0.0, description="SVM margin a window needs (OpenCV's hitThreshold)")
    min_height: int = Field(256, ge=64, description="upscale smaller frames/crops: the 64x128 window is larger than a person in a 176x144 frame")
    haar_min_size: float = Field(0.18, gt=0.0, le=1.0, description="smallest Haar window as a fraction of the frame height (a close-up face or torso)")
    haar_rotations: list[float] = Field(default_factory=lambda: [-20.0, 20.0], description="degrees; retry the face cascade on rotated frames (tilted heads)")
    haar_follow_frames: int = Field(5, ge=0, description="rotated retries only within this many detector runs of the last face hit")
    haar: bool = Field(True, description="when HOG finds nobody, try OpenCV's shipped Haar cascades (frontal face, upper body): people too close, seated or cut by the frame edge")


class YoloConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    imgsz: int = Field(640, ge=32, description="YOLO inference size in pixels")
    device: str = Field("cpu", description="torch device for YOLO (cpu, cuda:0, ...)")
    download: bool = Field(False, description="let ultralytics fetch missing .pt weights (connected sites with the export extra; a slim edge takes an .onnx instead)")
    iou: float = Field(0.45, gt=0.0, le=1.0, description="non-maximum-suppression IoU threshold")


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    detector: Literal["auto", "yolo", "hog"] = Field(
        "auto", description="auto: YOLO when its weights can be had, else the HOG/Haar fallback (logged)")
    weights: str = Field("yolov8n.pt", description="path or name: *.pt, *.onnx, *_openvino_model/, or *.yaml (random init, tests)")
    crop_to_motion: bool = Field(True, description="run the detector on motion crops when they cover less of the frame than max_crop_fraction")
    max_crop_fraction: float = Field(0.6, gt=0.0, le=1.0, description="motion crops covering more of the frame than this are replaced by the whole frame")
    hold_s: float = Field(1.0, ge=0.0, description="a detector miss or a motionless frame this soon after a positive still passes (bridges detector flicker)")
    detect_interval_s: float = Field(0.7, ge=0.0, description="while found objects are being tracked and motion stays on them, rerun the detector at most this often (0 = every frame with motion; 0.7 s = every 4th frame at 5 fps, DeepStream's interval=3)")
    coast_margin: float = Field(0.5, ge=0.0, description="motion within this fraction of a tracked box's size counts as that object's motion")
    detect_width: int | None = Field(
        640, ge=64, description="frames wider than this are downscaled (aspect kept) before motion and detection, "
        "as Frigate's detect width; boxes are mapped back to source pixels (null = detect at source resolution)")
    camera_motion_fraction: float = Field(
        0.5, gt=0.0, le=1.0, description="motion covering at least this fraction of the frame (or a scene change) is "
        "taken for camera motion (pan, cut, shake) rather than an object moving")
    camera_motion_interval_s: float = Field(
        0.0, ge=0.0, description="during camera motion the detector runs at most this often; frames in between pass "
        "on the remembered boxes if something was seen within hold_s, else are skipped (0 = every frame)")
    motion: MotionConfig = Field(default_factory=MotionConfig)
    hog: HogConfig = Field(default_factory=HogConfig)
    yolo: YoloConfig = Field(default_factory=YoloConfig)
