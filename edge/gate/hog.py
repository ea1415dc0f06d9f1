"""Stage 1 fallback: OpenCV's shipped HOG people detector (Dalal & Triggs 2005), plus Haar cascades.

Needs no download, so it is what ``detector: auto`` falls back to when YOLO weights
cannot be had. Choices:
- Small frames are upscaled so the frame is at least ``min_height`` tall: HOG's
  64x128 window is larger than a person in a 176x144 frame.
- Crops: each motion region is grown to at least one detection window (plus
  padding) and the detector runs on the crop; boxes are mapped back.
- HOG's SVM margin is turned into a 0..1 score with a logistic (margin 0 -> 0.5),
  so ``min_score`` means the same kind of thing for HOG and YOLO.
- HOG only knows upright full bodies; people seated, cycling close to the camera
  or filmed head-and-shoulders are found by OpenCV's Haar cascades (frontal face,
  upper body) when the build ships them (``cv2.data``). A face box is grown to an
  approximate head-and-shoulders box so area filters and crops stay sensible.
"""
from __future__ import annotations

import logging
import math
import os

import cv2
import numpy as np

from edge.detection import Detection
from edge.gate.base import DetectorStage, Region
from edge.gate.config import HogConfig
from edge.gate.regions import expand_to_min

log = logging.getLogger(__name__)

_WIN_W, _WIN_H = 64, 128
# Cascade file -> (minimum window scale factor for detectMultiScale, score given to a hit).
# Haar cascades report no calibrated confidence; a fixed score above the default
# min_score keeps them usable while letting a stricter camera filter them out.
_CASCADES = {
    "haarcascade_frontalface_default.xml": 0.6,
    "haarcascade_upperbody.xml": 0.55,
}
_CASCADE_MIN_NEIGHBORS = 4


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class HogPersonDetector(DetectorStage):
    name = "hog"
    labels = frozenset({"person"})

    def __init__(self, cfg: HogConfig | None = None):
        self.cfg = cfg or HogConfig()
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self._cascades: list[tuple[str, cv2.CascadeClassifier, float]] = []
        if self.cfg.haar:
            self._cascades = _load_cascades()
        if self._cascades:
            self.name = "hog+haar"

    def _scale_for(self, H: int) -> float:
        return max(1.0, self.cfg.min_height / float(H))

    def detect(self, image: np.ndarray, regions: list[Region] | None = None) -> list[Detection]:
        H, W = image.shape[:2]
        f = self._scale_for(H)
        pad = self.cfg.padding
        need_w = int(math.ceil((_WIN_W + 2 * pad) / f))
        need_h = int(math.ceil((_WIN_H + 2 * pad) / f))
        crops = [(0, 0, W, H)] if not regions else [expand_to_min(r, need_w, need_h, W, H) for r in regions]
        out: list[Detection] = []
        for x1, y1, x2, y2 in crops:
            crop = image[y1:y2, x1:x2]
            if f > 1.0:
                crop = cv2.resize(crop, (round((x2 - x1) * f), round((y2 - y1) * f)), interpolation=cv2.INTER_LINEAR)
            for d in self._detect_crop(crop):
                out.append(Detection(x1 + d[0] / f, y1 + d[1] / f, x1 + d[2] / f, y1 + d[3] / f, "person", d[4]))
        return _nms(out, 0.5) if len(crops) > 1 or self._cascades else out

    def _detect_crop(self, crop: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        h, w = crop.shape[:2]
        hits: list[tuple[float, float, float, float, float]] = []
        if h >= _WIN_H and w >= _WIN_W:
            s = self.cfg.win_stride
            rects, weights = self._hog.detectMultiScale(
                crop, hitThreshold=self.cfg.hit_threshold, winStride=(s, s),
                padding=(self.cfg.padding, self.cfg.padding), scale=self.cfg.scale)
            for (x, y, bw, bh), wt in zip(rects, np.ravel(weights) if len(rects) else []):
                hits.append((float(x), float(y), float(x + bw), float(y + bh), _sigmoid(2.0 * float(wt))))
        if self._cascades:
            grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
            grey = cv2.equalizeHist(grey)
            for name, cascade, score in self._cascades:
                for (x, y, bw, bh) in cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=_CASCADE_MIN_NEIGHBORS,
                                                                minSize=(24, 24)):
                    if "face" in name:   # head -> head and shoulders
                        x, y, bw, bh = x - 0.5 * bw, y - 0.2 * bh, 2.0 * bw, 2.4 * bh
                    hits.append((max(0.0, float(x)), max(0.0, float(y)), min(float(w), float(x + bw)),
                                 min(float(h), float(y + bh)), score))
        return hits


def _load_cascades() -> list[tuple[str, "cv2.CascadeClassifier", float]]:
    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not base or not hasattr(cv2, "CascadeClassifier"):
        log.info("OpenCV build ships no Haar cascades; HOG only")
        return []
    out = []
    for fname, score in _CASCADES.items():
        path = os.path.join(base, fname)
        if os.path.isfile(path):
            c = cv2.CascadeClassifier(path)
            if not c.empty():
                out.append((fname, c, score))
    return out


def _nms(dets: list[Detection], thr: float) -> list[Detection]:
    """Greedy non-maximum suppression (crops overlap, so one person can be found twice)."""
    from edge.detection import iou
    keep: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(iou(d.box(), k.box()) < thr for k in keep):
            keep.append(d)
    return keep
