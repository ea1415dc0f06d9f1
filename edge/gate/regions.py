"""Shared helpers for running a detector on motion crops instead of the whole frame."""
from __future__ import annotations

from edge.gate.base import Region


def area(r: Region) -> int:
    return max(0, r[2] - r[0]) * max(0, r[3] - r[1])


def expand_to_min(r: Region, min_w: int, min_h: int, W: int, H: int) -> Region:
    """Grow ``r`` around its centre to at least min_w x min_h, shifted to stay inside W x H."""
    x1, y1, x2, y2 = r
    w, h = max(x2 - x1, min(min_w, W)), max(y2 - y1, min(min_h, H))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    nx1 = int(round(min(max(0, cx - w / 2), W - w)))
    ny1 = int(round(min(max(0, cy - h / 2), H - h)))
    return (nx1, ny1, nx1 + int(w), ny1 + int(h))


def union_area(regions: list[Region], W: int, H: int) -> float:
    """Fraction of the W x H frame covered by the union of ``regions`` (on a coarse grid)."""
    if not regions:
        return 0.0
    import numpy as np
    step = max(1, min(W, H) // 64)
    gw, gh = (W + step - 1) // step, (H + step - 1) // step
    grid = np.zeros((gh, gw), bool)
    for x1, y1, x2, y2 in regions:
        grid[y1 // step:(y2 + step - 1) // step, x1 // step:(x2 + step - 1) // step] = True
    return float(grid.mean())
