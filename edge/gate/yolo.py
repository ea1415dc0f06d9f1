"""Stage 1: an Ultralytics YOLO detector (weights path or name, ONNX/OpenVINO exports too).

``weights`` may be a ``.pt`` file or name (``yolo11n.pt``, ``yolov8n.pt``), an
exported ``.onnx`` file or ``*_openvino_model/`` folder (CPU sites), or a model
``.yaml`` (random init: exercises this code path offline, detects nothing real).
Nothing is downloaded unless ``yolo.download`` is set; ``find_weights`` says
whether the weights are already on this machine, which is how ``detector: auto``
decides to fall back to HOG.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from edge.detection import COCO_CLASSES, Detection
from edge.gate.base import DetectorStage, Region
from edge.gate.config import YoloConfig
from edge.gate.regions import expand_to_min

log = logging.getLogger(__name__)

# Crops smaller than this (source pixels) are grown before inference: YOLO's
# stride-32 grid needs some context around a small moving region.
_MIN_CROP = 96


def find_weights(weights: str) -> str | None:
    """Local path for ``weights`` if it exists (as given, in $VIGIL_WEIGHTS_DIR, or in ultralytics' weights dir)."""
    if weights.endswith((".yaml", ".yml")):
        return weights          # built from the architecture file; ultralytics ships these
    candidates = [Path(weights)]
    if os.environ.get("VIGIL_WEIGHTS_DIR"):
        candidates.append(Path(os.environ["VIGIL_WEIGHTS_DIR"]) / weights)
    try:
        from ultralytics.utils import SETTINGS
        candidates.append(Path(SETTINGS["weights_dir"]) / weights)
    except Exception:  # noqa: BLE001 - ultralytics missing or its settings unreadable: no extra place to look
        pass
    for c in candidates:
        if c.exists():
            return str(c)
    return None


class YoloDetector(DetectorStage):
    name = "yolo"

    def __init__(self, weights: str = "yolov8n.pt", cfg: YoloConfig | None = None):
        self.cfg = cfg or YoloConfig()
        local = find_weights(weights)
        if local is None and not self.cfg.download:
            raise FileNotFoundError(f"YOLO weights {weights!r} not found locally and gate.yolo.download is false")
        from ultralytics import YOLO   # heavy import only when YOLO is really used
        self.model = YOLO(local or weights, task="detect")
        self.weights = local or weights
        names = getattr(self.model, "names", None) or {}
        self.names: dict[int, str] = dict(names) if isinstance(names, dict) else dict(enumerate(names))
        if len(self.names) == len(COCO_CLASSES) and all(str(v) == str(k) for k, v in self.names.items()):
            # A model built from a .yaml has placeholder names; the stock yaml files are COCO-shaped.
            self.names = dict(enumerate(COCO_CLASSES))
        self.labels = frozenset(self.names.values())
        self.name = f"yolo:{Path(self.weights).name}"

    def detect(self, image: np.ndarray, regions: list[Region] | None = None,
               conf: float = 0.25, classes: list[int] | None = None) -> list[Detection]:
        H, W = image.shape[:2]
        crops = [(0, 0, W, H)] if not regions else [expand_to_min(r, _MIN_CROP, _MIN_CROP, W, H) for r in regions]
        out: list[Detection] = []
        for x1, y1, x2, y2 in crops:
            crop = image[y1:y2, x1:x2]
            res = self.model.predict(crop, imgsz=self.cfg.imgsz, conf=conf, iou=self.cfg.iou, device=self.cfg.device,
                                     classes=classes, verbose=False)[0]
            boxes = res.boxes
            if boxes is None or len(boxes) == 0:
                continue
            xyxy = boxes.xyxy.cpu().numpy()
            scores = boxes.conf.cpu().numpy()
            cls = boxes.cls.cpu().numpy().astype(int)
            for (bx1, by1, bx2, by2), s, c in zip(xyxy, scores, cls):
                out.append(Detection(float(bx1 + x1), float(by1 + y1), float(bx2 + x1), float(by2 + y1),
                                     self.names.get(int(c), str(c)), float(s)))
        return out

    def class_ids(self, labels: list[str]) -> list[int] | None:
        ids = [i for i, n in self.names.items() if n in labels]
        return ids or None
