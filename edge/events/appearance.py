"""Appearance cue for re-association: a hue-saturation histogram of the object's crop.

A colour histogram is the cheapest cue that survives a short occlusion, a missed
detection or a box that changes shape (SORT and ByteTrack use none; DeepSORT,
Wojke et al. 2017, uses a CNN embedding, too heavy for a 2-core edge). Choices:
- Hue x saturation only (OpenCV's H-S histogram recipe): brightness changes with
  shadows and exposure, clothing colour does not.
- The central part of the box (``_INNER_X``, ``_INNER_Y`` trimmed from each side): a detector's box
  carries a margin of background (HOG's is about half its width), and the object sits in the middle.
- Distance = Hellinger (Bhattacharyya) distance in 0..1: 0 same, 1 disjoint.
"""
from __future__ import annotations

import cv2
import numpy as np

HUE_BINS, SAT_BINS = 12, 4       # coarse on purpose: a person's clothing, not texture
_INNER_X, _INNER_Y = 0.25, 0.1    # fraction of width / height trimmed from each side of the box
_MIN_SIDE = 4                    # pixels: smaller crops carry no usable colour


def colour_histogram(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    """L1-normalised H-S histogram of the inner crop of ``box`` in a BGR image, or None when too small."""
    H, W = image.shape[:2]
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * _INNER_X, (y2 - y1) * _INNER_Y
    a, b = max(0, int(x1 + dx)), max(0, int(y1 + dy))
    c, d = min(W, int(x2 - dx)), min(H, int(y2 - dy))
    if c - a < _MIN_SIDE or d - b < _MIN_SIDE or image.ndim != 3:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(image[b:d, a:c]), cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel().astype(np.float64)
    s = hist.sum()
    return hist / s if s > 0 else None


def appearance_distance(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Hellinger distance of two normalised histograms (0..1); None when either is unknown."""
    if a is None or b is None:
        return None
    bc = float(np.sum(np.sqrt(a * b)))
    return float(np.sqrt(max(0.0, 1.0 - min(1.0, bc))))


def blend(old: np.ndarray | None, new: np.ndarray | None, weight: float) -> np.ndarray | None:
    """Running appearance: ``weight`` on the newest crop (kept normalised)."""
    if old is None:
        return new
    if new is None:
        return old
    h = (1.0 - weight) * old + weight * new
    return h / h.sum()
