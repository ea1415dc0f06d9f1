"""Detect resolution: run the gate on a downscaled copy of large frames, report boxes in source pixels.

Frigate's ``detect: width/height`` and DeepStream's streammux resolution: an NVR
records at the camera's resolution but detects at a smaller one, because the
cost of a sliding-window or CNN detector grows with the pixel count while the
objects a security camera cares about (a person, a car) stay many pixels tall
at 640 px wide. Choices:
- Only frames *wider* than ``detect_width`` are shrunk (INTER_AREA, aspect kept);
  smaller frames are left alone (the HOG stage upscales tiny frames itself).
- Everything inside the gate (motion regions, policy memory, detections) lives
  in detect pixels; ``to_source`` maps boxes back once, on the way out, so the
  tracker, zones, key frames and crops keep working in source pixels.
- The ungated baseline of the benchmark uses the same helper, i.e. the same
  detector configuration with and without the gate.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edge.detection import Detection


def detect_scale(width: int, detect_width: int | None) -> float:
    """Factor (<= 1) by which a frame ``width`` px wide is shrunk for detection."""
    if not detect_width or width <= detect_width:
        return 1.0
    return detect_width / float(width)


def to_detect_size(image: np.ndarray, detect_width: int | None) -> tuple[np.ndarray, float]:
    """(image at detect resolution, scale) with scale = detect px / source px (1.0: unchanged)."""
    H, W = image.shape[:2]
    s = detect_scale(W, detect_width)
    if s >= 1.0:
        return image, 1.0
    return cv2.resize(image, (int(detect_width), max(1, round(H * s))), interpolation=cv2.INTER_AREA), s


def detection_to_source(d: Detection, scale: float, W: int, H: int) -> Detection:
    if scale == 1.0:
        return d
    return replace(d, x1=max(0.0, d.x1 / scale), y1=max(0.0, d.y1 / scale),
                   x2=min(float(W), d.x2 / scale), y2=min(float(H), d.y2 / scale))


def region_to_source(r: tuple, scale: float, W: int, H: int) -> tuple[int, int, int, int]:
    if scale == 1.0:
        return r
    return (max(0, int(r[0] / scale)), max(0, int(r[1] / scale)),
            min(W, int(np.ceil(r[2] / scale))), min(H, int(np.ceil(r[3] / scale))))
