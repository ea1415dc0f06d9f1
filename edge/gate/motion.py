"""Stage 0: motion by background differencing on a small grey frame.

Frigate's approach (its "improved" motion detector), simplified: downscale to a
fixed height, blur, compare to a running-average background, threshold, dilate,
take contour boxes above a minimum area, merge boxes that nearly touch, and map
them back to source pixels with a margin so the detector sees whole objects.

Choices where the recipe is vague:
- Warm-up: for the first ``warmup_frames`` frames the background is still being
  learnt, so the stage reports the *whole frame* as a region instead of nothing:
  a person standing there when the camera connects must still reach the detector.
- Masks are polygons in relative coordinates, rasterised once per frame size;
  differences inside them are zeroed (timestamps, swaying trees).
- The background is the previous processed frame by default (``alpha`` 1.0, i.e.
  frame differencing): at 5 fps frames are 200 ms apart, and a slow running
  average left ghosts of cuts and departed objects for a second or more on the
  sample clips; a smaller ``alpha`` remains available for noisy night streams.
- Camera motion (``compensate_camera_motion``): before differencing, the
  background is translated by the global shift phase correlation finds between
  it and the new frame (trusted only above a peak response), and the newly
  exposed border is ignored. A pan or a shaking mast then leaves the objects
  that move against the scene instead of a full-frame region, so stage 1 gets
  crops, not a full-frame search on every frame. DeepStream/Frigate do not do
  this; it is the classic global-motion compensation of moving-camera detection.
- A frame where nearly everything changed (camera pan, lights switched on) is
  reported as one full-frame region and the background is reset to it, so the
  stage recovers in one frame instead of reporting ghosts for seconds.
"""
from __future__ import annotations

import cv2
import numpy as np

from edge.gate.base import MotionStage, Region
from edge.gate.config import MotionConfig

# Fraction of changed pixels above which we treat the frame as a scene change (see docstring).
_SCENE_CHANGE_FRACTION = 0.6


class MotionGate(MotionStage):
    name = "motion"

    def __init__(self, cfg: MotionConfig | None = None, masks: list[list[tuple[float, float]]] | None = None):
        self.cfg = cfg or MotionConfig()
        self.masks = masks or []
        self._background: np.ndarray | None = None
        self._seen = 0
        self._mask_cache: tuple[tuple[int, int], np.ndarray | None] | None = None
        self.last_changed_fraction = 0.0
        self.scene_change = False         # the last frame changed almost everywhere (cut, pan, lights)

    def reset(self) -> None:
        self._background = None
        self._seen = 0

    @property
    def warming_up(self) -> bool:
        return self._seen < self.cfg.warmup_frames

    def _keep_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        if not self.masks:
            return None
        if self._mask_cache is not None and self._mask_cache[0] == shape:
            return self._mask_cache[1]
        h, w = shape
        keep = np.full((h, w), 255, np.uint8)
        for poly in self.masks:
            pts = np.array([[x * (w - 1), y * (h - 1)] for x, y in poly], np.int32)
            cv2.fillPoly(keep, [pts], 0)
        self._mask_cache = (shape, keep)
        return keep

    def detect(self, image: np.ndarray) -> list[Region]:
        H, W = image.shape[:2]
        full: list[Region] = [(0, 0, W, H)]
        h = min(self.cfg.frame_height, H)
        w = max(1, round(W * h / H))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        small = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
        k = self.cfg.blur | 1
        small = cv2.GaussianBlur(small, (k, k), 0).astype(np.float32)
        self._seen += 1
        self.scene_change = False
        if self._background is None or self._background.shape != small.shape:
            self._background = small.copy()
            self.last_changed_fraction = 1.0
            self.scene_change = True
            return full if self.cfg.warmup_frames > 0 else []
        background = self._background
        valid = None
        if self.cfg.compensate_camera_motion:
            background, valid = _align(self._background, small)
        diff = cv2.absdiff(small, background)
        if valid is not None:
            diff[~valid] = 0          # newly exposed border: no background to compare with
        cv2.accumulateWeighted(small, self._background, self.cfg.alpha)
        changed = (diff > self.cfg.threshold).astype(np.uint8) * 255
        keep = self._keep_mask((h, w))
        if keep is not None:
            changed = cv2.bitwise_and(changed, keep)
        changed = cv2.dilate(changed, None, iterations=2)
        frac = float(np.count_nonzero(changed)) / changed.size
        self.last_changed_fraction = frac
        if self._seen <= self.cfg.warmup_frames:
            return full
        if frac >= _SCENE_CHANGE_FRACTION:
            self._background = small.copy()
            self.scene_change = True
            return full
        contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_px = self.cfg.min_area * w * h
        boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= min_px]
        boxes = [(x, y, x + bw, y + bh) for x, y, bw, bh in boxes]
        boxes = _merge(boxes, gap=self.cfg.merge_gap * max(w, h))
        sx, sy = W / w, H / h
        out: list[Region] = []
        for x1, y1, x2, y2 in boxes:
            mx, my = (x2 - x1) * self.cfg.margin, (y2 - y1) * self.cfg.margin
            out.append((max(0, int((x1 - mx) * sx)), max(0, int((y1 - my) * sy)),
                        min(W, int(np.ceil((x2 + mx) * sx))), min(H, int(np.ceil((y2 + my) * sy)))))
        return _merge(out, gap=0)


# phase-correlation peak response below which the shift estimate is not trusted (cut, busy scene)
_MIN_SHIFT_RESPONSE = 0.1
_MIN_SHIFT_PX = 0.5


def _align(background: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The background translated by the global shift between it and ``current`` (phase correlation,
    Kuglin & Hines 1975), and a mask of the pixels the shifted background covers. A translation is
    all we model: at 5 fps on a 120-px-high frame a pan or shake is close to one; zoom and rotation
    remain motion (and a cut remains a scene change)."""
    (dx, dy), response = cv2.phaseCorrelate(background, current)
    h, w = current.shape[:2]
    if response < _MIN_SHIFT_RESPONSE or (abs(dx) < _MIN_SHIFT_PX and abs(dy) < _MIN_SHIFT_PX) \
            or abs(dx) > w / 3 or abs(dy) > h / 3:
        return background, None
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    shifted = cv2.warpAffine(background, m, (w, h), borderMode=cv2.BORDER_CONSTANT)
    valid = np.zeros((h, w), bool)
    x1, x2 = int(np.ceil(max(0.0, dx))), int(np.floor(min(w, w + dx)))
    y1, y2 = int(np.ceil(max(0.0, dy))), int(np.floor(min(h, h + dy)))
    valid[y1:y2, x1:x2] = True
    return shifted, valid


def _merge(boxes: list[Region], gap: float) -> list[Region]:
    """Union boxes that overlap or lie within ``gap`` of each other, until none do."""
    boxes = list(boxes)
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        out: list[Region] = []
        while boxes:
            a = boxes.pop()
            i = 0
            while i < len(boxes):
                b = boxes[i]
                if (a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]):
                    a = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    boxes.pop(i)
                    merged = True
                else:
                    i += 1
            out.append(a)
        boxes = out
    return boxes
