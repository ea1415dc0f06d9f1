"""Visual guidance (DAT): the frame the cloud model sees has the edge's boxes drawn on it, and the
detected objects are also kept as ROI crops (evidence the transmitter can send first or alone)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detection import Detection

_BOX_COLOUR = (0, 0, 255)        # BGR red: stands out on most scenes and is what the prompt names
_TEXT_COLOUR = (255, 255, 255)


@dataclass
class RoiCrop:
    box: tuple[int, int, int, int]      # x1, y1, x2, y2 in source-frame pixels
    image: np.ndarray
    detection: Detection


@dataclass
class Guidance:
    annotated: np.ndarray
    crops: list[RoiCrop]


def draw_boxes(image: np.ndarray, detections: list[Detection]) -> np.ndarray:
    out = image.copy()
    H = out.shape[0]
    thick = max(1, H // 240)
    scale = max(0.35, H / 720.0)
    for d in detections:
        p1, p2 = (int(d.x1), int(d.y1)), (int(d.x2), int(d.y2))
        cv2.rectangle(out, p1, p2, _BOX_COLOUR, thick)
        tag = d.label if d.track_id < 0 else f"{d.label} #{d.track_id}"
        (tw, th), _ = cv2.getTextSize(tag, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        y = max(th + 2, p1[1])
        cv2.rectangle(out, (p1[0], y - th - 2), (p1[0] + tw + 2, y), _BOX_COLOUR, -1)
        cv2.putText(out, tag, (p1[0] + 1, y - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_COLOUR, 1, cv2.LINE_AA)
    return out


def roi_crops(image: np.ndarray, detections: list[Detection], margin: float = 0.15, limit: int = 4) -> list[RoiCrop]:
    H, W = image.shape[:2]
    out = []
    for d in sorted(detections, key=lambda d: -d.score * d.area)[:limit]:
        mx, my = d.width * margin, d.height * margin
        x1, y1 = max(0, int(d.x1 - mx)), max(0, int(d.y1 - my))
        x2, y2 = min(W, int(np.ceil(d.x2 + mx))), min(H, int(np.ceil(d.y2 + my)))
        if x2 > x1 and y2 > y1:
            out.append(RoiCrop((x1, y1, x2, y2), image[y1:y2, x1:x2].copy(), d))
    return out


def visual_guidance(image: np.ndarray, detections: list[Detection], margin: float = 0.15, limit: int = 4) -> Guidance:
    return Guidance(draw_boxes(image, detections), roi_crops(image, detections, margin, limit))
