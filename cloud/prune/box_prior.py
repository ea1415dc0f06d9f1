"""Fold the edge's detection boxes into the token importance prior (beyond the paper).

The edge already knows where the objects are (DAT's visual guidance); the
tokens whose patches the boxes cover should win ties against the background.
`box_coverage` maps boxes in original-frame pixels onto the visual token grid
and returns, per token, the fraction of its patch covered by the union of
boxes (approximated by the max over boxes, exact when boxes don't overlap in a
patch). The pruners multiply importance by (1 + weight × coverage)
(cloud/prune/importance.py). Geometry: "stretch" resizes the frame to the
model's square input (our LLaVA preprocessing); "pad" pads the short side to a
square first (LLaVA-1.5's expand2square) and then resizes.
"""
from __future__ import annotations

from typing import Iterable, Literal, Sequence

import torch


def box_coverage(boxes: Iterable[Sequence[float]], frame_size: tuple[int, int], grid: tuple[int, int],
                 mode: Literal["stretch", "pad"] = "stretch") -> torch.Tensor:
    """(rows*cols,) coverage in [0, 1] of each token, row-major like the vision tower's patches.

    boxes: (x1, y1, x2, y2) in frame pixels; frame_size: (width, height); grid: (rows, cols).
    """
    width, height = frame_size
    rows, cols = grid
    if mode == "pad":
        side = float(max(width, height))
        off_x, off_y, sx, sy = (side - width) / 2, (side - height) / 2, 1.0 / side, 1.0 / side
    elif mode == "stretch":
        off_x, off_y, sx, sy = 0.0, 0.0, 1.0 / width, 1.0 / height
    else:
        raise ValueError(f"unknown geometry {mode!r}")
    # Token cell edges in normalised [0, 1] square coordinates.
    x_edges = torch.linspace(0, 1, cols + 1)
    y_edges = torch.linspace(0, 1, rows + 1)
    cover = torch.zeros(rows, cols)
    for x1, y1, x2, y2 in boxes:
        bx1, bx2 = sorted(((x1 + off_x) * sx, (x2 + off_x) * sx))
        by1, by2 = sorted(((y1 + off_y) * sy, (y2 + off_y) * sy))
        ox = (torch.minimum(x_edges[1:], torch.tensor(bx2)) - torch.maximum(x_edges[:-1], torch.tensor(bx1))).clamp_min(0)
        oy = (torch.minimum(y_edges[1:], torch.tensor(by2)) - torch.maximum(y_edges[:-1], torch.tensor(by1))).clamp_min(0)
        frac = (oy[:, None] * rows) * (ox[None, :] * cols)
        cover = torch.maximum(cover, frac.clamp(0, 1))
    return cover.reshape(-1)
