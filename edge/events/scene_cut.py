"""Scene cuts and camera motion: when the whole picture changes at once.

A fixed camera's picture changes a little per frame (objects move); an edited
clip's cut, a PTZ move, a camera knocked or an exposure jump changes all of it.
Then every object's box jumps and a plain tracker starts a new track (and a new
event) for each. We detect the jump on a tiny grey thumbnail, as shot-boundary
detectors do (pixel difference plus histogram difference, e.g. Zhang, Kankanhalli
and Smoliar, "Automatic partitioning of full-motion video", 1993), and require
both to be high so one object crossing close to the lens is not a cut. After a
cut the lifecycle holds off new events for ``hold_s`` and re-associates by
appearance instead (edge/events/object_tracker.py).
"""
from __future__ import annotations

import cv2
import numpy as np

THUMB = (32, 24)        # the thumbnail compared frame to frame: layout, not detail
GREY_BINS = 16


class SceneCutDetector:
    """``update(image, t)`` returns True on a frame that starts a new shot; ``holding(t)`` during the hold."""

    def __init__(self, pixel_threshold: float = 0.25, hist_threshold: float = 0.3, hold_s: float = 1.0):
        self.pixel_threshold = pixel_threshold     # mean absolute grey difference, 0..1
        self.hist_threshold = hist_threshold       # half the L1 distance of grey histograms, 0..1
        self.hold_s = hold_s
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._last_cut: float | None = None
        self.cuts = 0

    @staticmethod
    def signature(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        thumb = cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        hist = np.histogram(thumb, bins=GREY_BINS, range=(0.0, 1.0))[0].astype(np.float32)
        return thumb, hist / max(1.0, float(hist.sum()))

    def compare(self, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
        return float(np.mean(np.abs(a[0] - b[0]))), 0.5 * float(np.sum(np.abs(a[1] - b[1])))

    def update(self, image: np.ndarray, t: float) -> bool:
        sig = self.signature(image)
        prev, self._prev = self._prev, sig
        if prev is None:
            return False
        pixel, hist = self.compare(prev, sig)
        # A cut moves the layout a lot; a big histogram shift alone (lights on) or a big pixel change
        # alone (a pan over similar texture) counts too when it is far past its own threshold.
        cut = (pixel >= self.pixel_threshold and hist >= self.hist_threshold) \
            or pixel >= 2 * self.pixel_threshold or hist >= 2 * self.hist_threshold
        if cut:
            self._last_cut = t
            self.cuts += 1
        return cut

    def holding(self, t: float) -> bool:
        return self._last_cut is not None and t - self._last_cut < self.hold_s
