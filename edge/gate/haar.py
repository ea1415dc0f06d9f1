"""OpenCV's shipped Haar cascades (Viola & Jones 2001) as a person detector for close-ups.

HOG's 64x128 window needs an upright full body; a person filling the frame (a
driver, a face at a door camera, a cyclist cut by the frame edge) shows a face or
a torso instead. Choices:
- Cascades: frontal face, then upper body, whichever the OpenCV build ships in
  ``cv2.data.haarcascades`` (none: the detector finds nothing and says so once).
- Tilted heads defeat the upright face cascade; like multi-view Viola-Jones we
  rerun the face cascade on the image rotated by each of ``haar_rotations``
  degrees, but only while nothing has been found yet (first hit wins) and only
  while *following* a face: within ``follow_frames`` detector runs of the last
  face hit. A face that tilts away is kept; a scene with nobody in it does not pay
  for two extra passes on every frame. This makes the finder stateful, so each
  camera has its own (the cascade builds one detector per camera).
- The smallest window is ``haar_min_size`` x frame height: this detector is for
  close-ups, and small windows are where both its cost and its false hits are.
  The image is shrunk so that this smallest window is the cascades' own 24 px
  training size before the cascades run: the same objects are found, on fewer
  pixels and pyramid levels (4-10x cheaper on 640x272 and 1280x720 frames).
- A face box is grown to an approximate head-and-shoulders box.
- Cascades report no calibrated confidence; a hit gets a fixed score per cascade,
  above the default ``min_score`` so a stricter camera can turn them off.
"""
from __future__ import annotations

import logging
import os

import cv2
import numpy as np

log = logging.getLogger(__name__)

# cascade file -> score given to its hits
CASCADES = {
    "haarcascade_frontalface_default.xml": 0.6,
    "haarcascade_upperbody.xml": 0.55,
}
_MIN_NEIGHBORS = 4
_SCALE_FACTOR = 1.1
_MIN_PX = 24            # the cascades' training windows are about this size

Hit = tuple[float, float, float, float, float]    # x1, y1, x2, y2, score


class HaarPersonFinder:
    def __init__(self, min_size: float = 0.18, rotations: tuple[float, ...] = (-20.0, 20.0), follow_frames: int = 5):
        self.min_size = min_size
        self.rotations = tuple(rotations)
        self.follow_frames = follow_frames
        self.cascades = _load()
        self._follow = 0           # detector runs left in which rotated retries are tried

    def new_frame(self) -> None:
        """Called once per detector run (a frame may have several crops)."""
        self._follow = max(0, self._follow - 1)

    def __bool__(self) -> bool:
        return bool(self.cascades)

    def find(self, image: np.ndarray, frame_h: float) -> list[Hit]:
        h0, w0 = image.shape[:2]
        m0 = max(_MIN_PX, int(self.min_size * frame_h))
        if min(h0, w0) < m0:
            return []
        shrink = _MIN_PX / m0                      # <= 1: smallest window becomes the training size
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if shrink < 1.0:
            grey = cv2.resize(grey, (max(1, round(w0 * shrink)), max(1, round(h0 * shrink))), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        hits = self._find(grey, _MIN_PX)
        if shrink < 1.0:
            hits = [(x1 / shrink, y1 / shrink, min(w0, x2 / shrink), min(h0, y2 / shrink), s) for x1, y1, x2, y2, s in hits]
        return hits

    def _find(self, grey: np.ndarray, m: int) -> list[Hit]:
        h, w = grey.shape[:2]
        hits: list[Hit] = []
        for name, cascade, score in self.cascades:
            for x, y, bw, bh in cascade.detectMultiScale(grey, scaleFactor=_SCALE_FACTOR, minNeighbors=_MIN_NEIGHBORS,
                                                         minSize=(m, m)):
                hits.append(_to_person(name, float(x), float(y), float(bw), float(bh), w, h, score))
            if hits:
                if "face" in name:
                    self._follow = self.follow_frames
                return hits
        face = next(((n, c, s) for n, c, s in self.cascades if "face" in n), None)
        if face is None or self._follow <= 0:
            return hits
        name, cascade, score = face
        centre = (w / 2.0, h / 2.0)
        for angle in self.rotations:
            rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
            turned = cv2.warpAffine(grey, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)
            back = cv2.invertAffineTransform(rot)
            for x, y, bw, bh in cascade.detectMultiScale(turned, scaleFactor=_SCALE_FACTOR, minNeighbors=_MIN_NEIGHBORS + 2,
                                                         minSize=(m, m)):
                corners = np.array([[x, y, 1], [x + bw, y, 1], [x, y + bh, 1], [x + bw, y + bh, 1]], np.float64)
                pts = corners @ back.T
                x1, y1 = pts.min(axis=0)
                x2, y2 = pts.max(axis=0)
                hits.append(_to_person(name, x1, y1, x2 - x1, y2 - y1, w, h, score))
            if hits:
                self._follow = self.follow_frames
                return hits
        return hits


def _to_person(name: str, x: float, y: float, bw: float, bh: float, w: int, h: int, score: float) -> Hit:
    if "face" in name:      # head -> head and shoulders
        x, y, bw, bh = x - 0.5 * bw, y - 0.2 * bh, 2.0 * bw, 2.4 * bh
    return (max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh), score)


def _load() -> list[tuple[str, "cv2.CascadeClassifier", float]]:
    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not base or not hasattr(cv2, "CascadeClassifier"):
        log.info("this OpenCV build ships no Haar cascades; HOG only")
        return []
    out = []
    for fname, score in CASCADES.items():
        path = os.path.join(base, fname)
        if os.path.isfile(path):
            c = cv2.CascadeClassifier(path)
            if not c.empty():
                out.append((fname, c, score))
    return out
