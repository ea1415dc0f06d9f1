"""Real frames for benchmarks and calibration (RGB uint8), read from the sample footage."""
from __future__ import annotations

import numpy as np


def sample_frames(name: str, n: int, start: int = 0, step: int = 25) -> list[np.ndarray]:
    """`n` RGB frames from clip `name`: frame indices start, start+step, ..."""
    from vigil.footage import read_frames

    frames = read_frames(name, step=step, start=start, limit=n)
    if len(frames) < n:
        raise ValueError(f"{name} has fewer than {n} frames at step {step}")
    return [np.ascontiguousarray(bgr[:, :, ::-1]) for bgr in frames]
