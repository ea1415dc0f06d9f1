"""Key-frame choice for visual evidence: which frame of an event should the cloud model see.

Quality = detector score x sqrt(box area fraction) x sharpness, maxed over the
event's detections in the frame. The square root keeps one huge box from always
winning over a confident mid-sized one; sharpness is the variance of the
Laplacian inside the box (a standard blur measure), squashed to 0..1 with a
half-point of ``_SHARP_HALF`` so that motion-blurred frames lose.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from edge.detection import Detection

# Laplacian variance at which sharpness counts 0.5 (8-bit grey; typical in-focus CCTV crops are in the hundreds).
_SHARP_HALF = 100.0


def sharpness(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
    H, W = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(W, int(math.ceil(box[2]))), min(H, int(math.ceil(box[3])))
    if x2 - x1 < 3 or y2 - y1 < 3:
        return 0.0
    roi = image[y1:y2, x1:x2]
    grey = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
    v = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return v / (v + _SHARP_HALF)


def frame_quality(image: np.ndarray, detections: list[Detection]) -> float:
    if not detections:
        return 0.0
    H, W = image.shape[:2]
    best = 0.0
    for d in detections:
        q = d.score * math.sqrt(max(0.0, d.area) / float(W * H)) * sharpness(image, d.box())
        best = max(best, q)
    return best
