"""Adaptive encoding: resolution, JPEG quality and crop chosen per message before encoding (DAT).

Each message class has a *ladder* of (width, quality) rungs from best to cheapest. Given a byte
budget, :func:`choose_rung` takes the best rung whose *predicted* size (the upper bound of
:class:`~edge.transmit.dat.size_model.JpegSizeModel`) fits; the model learns from every real
encode, so choices are made before encoding and not by trial and error. If nothing fits, the
cheapest rung is used: a message is degraded, never silently dropped here.

Crops: the semantic frame shows the union of the detections grown by ``ROI_MARGIN`` (at least
``ROI_MIN_FRACTION`` of the frame so the model sees the surroundings); evidence and context show
the full frame. The ladders' widths never upscale. Boxes are not drawn here: the packet carries the
detections and the crop, and the cloud draws them once on the image the model sees
(cloud/answer/prompting.py), sharp rather than through JPEG, whatever the transmission policy.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.transmit.dat.size_model import JpegSizeModel
from vigil.v1 import vigil_pb2 as pb

ROI_MARGIN = 0.3          # grow the detections' union by 30 % per side: context around the object
ROI_MIN_FRACTION = 0.35   # a crop never narrower/shorter than 35 % of the frame
ROI_MIN_PX = 224          # ... nor below the smallest common vision-encoder input (or the frame)

# (width, quality) from best to cheapest; width 0 = the source's own width.
LADDERS: dict[int, tuple[tuple[int, int], ...]] = {
    pb.ALERT_METADATA: ((96, 50), (64, 35)),
    # the model needs >= 224 px: below that a semantic frame is degraded in quality, not in size
    pb.SEMANTIC_FRAME: ((448, 85), (448, 70), (336, 70), (336, 55), (288, 50), (224, 50), (224, 35),
                        (224, 25)),
    pb.EVIDENCE: ((0, 90), (0, 80), (960, 80), (800, 75), (640, 75), (640, 60), (512, 60), (480, 50),
                  (400, 50), (320, 45), (256, 40), (224, 35)),
    pb.CONTEXT: ((480, 60), (320, 50), (320, 35), (224, 35), (160, 30)),
}


@dataclass(frozen=True)
class Rung:
    width: int
    height: int
    quality: int
    predicted_bytes: float


def _scaled(src_w: int, src_h: int, width: int) -> tuple[int, int]:
    w = src_w if width <= 0 or width >= src_w else width
    h = max(1, int(round(src_h * w / src_w)))
    return int(w), h


def choose_rung(priority: int, src_w: int, src_h: int, budget_bytes: float,
                model: JpegSizeModel) -> Rung:
    """Best rung of the class's ladder predicted (upper bound) to fit ``budget_bytes``."""
    ladder = LADDERS[priority]
    seen: set[tuple[int, int, int]] = set()
    last = None
    for width, quality in ladder:
        w, h = _scaled(src_w, src_h, width)
        if (w, h, quality) in seen:
            continue
        seen.add((w, h, quality))
        pred = model.predict(w * h, quality, upper=True)
        last = Rung(w, h, quality, pred)
        if pred <= budget_bytes:
            return last
    assert last is not None
    return last


Box = tuple[float, float, float, float]


def roi_crop(src_w: int, src_h: int, boxes: list[Box]) -> tuple[int, int, int, int] | None:
    """Crop (x1, y1, x2, y2) around the boxes, or None for the full frame."""
    if not boxes:
        return None
    x1 = min(b[0] for b in boxes); y1 = min(b[1] for b in boxes)
    x2 = max(b[2] for b in boxes); y2 = max(b[3] for b in boxes)
    bw, bh = max(1.0, x2 - x1), max(1.0, y2 - y1)
    x1 -= ROI_MARGIN * bw; x2 += ROI_MARGIN * bw
    y1 -= ROI_MARGIN * bh; y2 += ROI_MARGIN * bh
    min_w = max(ROI_MIN_FRACTION * src_w, min(src_w, ROI_MIN_PX))
    min_h = max(ROI_MIN_FRACTION * src_h, min(src_h, ROI_MIN_PX))
    if x2 - x1 < min_w:
        cx = (x1 + x2) / 2; x1, x2 = cx - min_w / 2, cx + min_w / 2
    if y2 - y1 < min_h:
        cy = (y1 + y2) / 2; y1, y2 = cy - min_h / 2, cy + min_h / 2
    # shift inside the frame, then clip
    if x1 < 0: x2 -= x1; x1 = 0
    if y1 < 0: y2 -= y1; y1 = 0
    if x2 > src_w: x1 -= x2 - src_w; x2 = src_w
    if y2 > src_h: y1 -= y2 - src_h; y2 = src_h
    c = (int(max(0, x1)), int(max(0, y1)), int(min(src_w, x2)), int(min(src_h, y2)))
    if c[2] - c[0] >= src_w and c[3] - c[1] >= src_h:
        return None
    return c


def encode(image: np.ndarray, rung: Rung, model: JpegSizeModel | None = None) -> bytes:
    """Resize to the rung and encode; teaches ``model`` the real size."""
    h, w = image.shape[:2]
    img = image if (w, h) == (rung.width, rung.height) else cv2.resize(
        image, (rung.width, rung.height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), int(rung.quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    data = buf.tobytes()
    if model is not None:
        model.update(rung.width * rung.height, rung.quality, len(data))
    return data
