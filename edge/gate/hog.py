"""Stage 1 fallback: OpenCV's shipped HOG people detector (Dalal & Triggs 2005), plus Haar cascades.

Needs no download, so it is what ``detector: auto`` falls back to when YOLO weights
cannot be had. Choices:
- Small frames are upscaled so the frame is at least ``min_height`` tall: HOG's
  64x128 window is larger than a person in a 176x144 frame.
- Crops: each motion region is grown to at least one detection window (plus
  padding) and the detector runs on the crop; boxes are mapped back.
- HOG's SVM margin is turned into a 0..1 score with a logistic (margin 0 -> 0.5),
  so ``min_score`` means the same kind of thing for HOG and YOLO.
- HOG only knows upright full bodies; where it finds nobody in a crop, OpenCV's
  Haar cascades (haar.py: faces, tilted faces, upper bodies) get a look, which
  keeps the gate's pass/fail of running both at a fraction of the cost.
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from edge.detection import Detection
from edge.gate.base import DetectorStage, Region
from edge.gate.config import HogConfig
from edge.gate.haar import HaarPersonFinder
from edge.gate.regions import expand_to_min

log = logging.getLogger(__name__)

_WIN_W, _WIN_H = 64, 128


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class HogPersonDetector(DetectorStage):
    name = "hog"
    labels = frozenset({"person"})

    def __init__(self, cfg: HogConfig | None = None):
        self.cfg = cfg or HogConfig()
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.haar = HaarPersonFinder(self.cfg.haar_min_size, tuple(self.cfg.haar_rotations),
                                     self.cfg.haar_follow_frames) if self.cfg.haar else None
        if self.haar:
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
        if self.haar:
            self.haar.new_frame()
        for x1, y1, x2, y2 in crops:
            crop = image[y1:y2, x1:x2]
            if f > 1.0:
                crop = cv2.resize(crop, (round((x2 - x1) * f), round((y2 - y1) * f)), interpolation=cv2.INTER_LINEAR)
            for d in self._detect_crop(crop, H * f):
                out.append(Detection(x1 + d[0] / f, y1 + d[1] / f, x1 + d[2] / f, y1 + d[3] / f, "person", d[4]))
        return _nms(out, 0.5) if len(crops) > 1 else out

    def _detect_crop(self, crop: np.ndarray, frame_h: float) -> list[tuple[float, float, float, float, float]]:
        h, w = crop.shape[:2]
        hits: list[tuple[float, float, float, float, float]] = []
        if h >= _WIN_H and w >= _WIN_W:
            s = self.cfg.win_stride
            rects, weights = self._hog.detectMultiScale(
                crop, hitThreshold=self.cfg.hit_threshold, winStride=(s, s),
                padding=(self.cfg.padding, self.cfg.padding), scale=self.cfg.scale)
            for (x, y, bw, bh), wt in zip(rects, np.ravel(weights) if len(rects) else []):
                hits.append((float(x), float(y), float(x + bw), float(y + bh), _sigmoid(2.0 * float(wt))))
        if self.haar and not hits:
            hits.extend(self.haar.find(crop, frame_h))
        return hits


def _nms(dets: list[Detection], thr: float) -> list[Detection]:
    """Greedy non-maximum suppression (crops overlap, so one person can be found twice)."""
    from edge.detection import iou
    keep: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(iou(d.box(), k.box()) < thr for k in keep):
            keep.append(d)
    return keep
