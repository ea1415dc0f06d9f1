"""Event images as a person reviews them: the edge's boxes drawn in, and thumbnails cropped to the object.

A stored image is the JPEG the edge sent; its boxes are the edge's detections in that image's pixels
(cloud/store/events.py). A thumbnail of a whole street scene shows a taxi's roof sign or bare legs
under "1 person"; cropping around the best detection (with a margin, so the object keeps its
context) shows what the event is about.
"""
from __future__ import annotations

import cv2
import numpy as np

BOX_BGR = (0, 215, 255)         # amber: visible on day and night footage
LINE_PX_PER_1000 = 3            # box line width per 1000 px of the image's longer side (at least 1)
CROP_MARGIN = 0.15              # a crop adds this fraction of the box's size on each side
MIN_CROP_PX = 96                # a crop is at least this wide and high (tiny boxes keep some context)
# A crop's width / height is kept within these: a standing person gets a portrait crop with some street
# beside it, a car a landscape one; never a sliver (the page's thumbnails are 4:3 boxes).
MIN_ASPECT, MAX_ASPECT = 3 / 4, 4 / 3
JPEG_QUALITY = 85


def _line(img: np.ndarray) -> int:
    return max(1, round(max(img.shape[:2]) * LINE_PX_PER_1000 / 1000))


def _draw(img: np.ndarray, boxes: list[dict]) -> None:
    width = _line(img)
    for b in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in b["box"])
        cv2.rectangle(img, (x1, y1), (x2, y2), BOX_BGR, width)
        caption = f"{b.get('label', '')} {float(b.get('score', 0.0)):.2f}".strip()
        scale = max(0.35, width / 4)
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - base - 2)
        cv2.rectangle(img, (x1, top), (x1 + tw + 4, top + th + base + 2), BOX_BGR, -1)
        cv2.putText(img, caption, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def _span(center: float, size: int, limit: int) -> tuple[int, int]:
    """[start, start + size) around `center`, slid (not cut) to stay inside [0, limit)."""
    size = min(size, limit)
    start = min(max(0, int(round(center - size / 2))), limit - size)
    return start, start + size


def crop_around(box: list[float], width: int, height: int) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of a crop holding `box` with a margin, its shape kept between portrait and
    landscape, slid inside the image (a person at the frame's edge stays whole)."""
    x1, y1, x2, y2 = box
    w = max((x2 - x1) * (1 + 2 * CROP_MARGIN), MIN_CROP_PX)
    h = max((y2 - y1) * (1 + 2 * CROP_MARGIN), MIN_CROP_PX)
    w, h = max(w, h * MIN_ASPECT), max(h, w / MAX_ASPECT)
    cx1, cx2 = _span((x1 + x2) / 2, int(round(w)), width)
    cy1, cy2 = _span((y1 + y2) / 2, int(round(h)), height)
    return cx1, cy1, cx2, cy2


def render(jpeg: bytes, boxes: list[dict], crop: dict | None = None) -> bytes:
    """The JPEG with `boxes` drawn; cropped around the `crop` detection when given. Undecodable bytes
    come back unchanged (the browser shows what it can)."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None or not (boxes or crop):
        return jpeg
    _draw(img, [crop] if crop is not None else boxes)
    if crop is not None:
        x1, y1, x2, y2 = crop_around(crop["box"], img.shape[1], img.shape[0])
        if x2 > x1 and y2 > y1:
            img = img[y1:y2, x1:x2]
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return buf.tobytes() if ok else jpeg
