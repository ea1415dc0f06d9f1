"""Stage 1 on a slim edge: a YOLO detector exported to ONNX, run by ONNX Runtime (no torch).

The model is an Ultralytics detection export (``python -m edge.gate.export yolov8n.pt``,
or ``yolo export format=onnx``): one input ``[1, 3, S, S]`` RGB in [0, 1], one output
``[1, 4 + C, N]`` — N candidate boxes as centre x, centre y, width, height in input
pixels followed by C class scores (YOLOv8/YOLO11 heads have no separate objectness).
We do what Ultralytics' predictor does around it, without importing it:
letterbox (aspect kept, grey 114 padding, as Ultralytics trains with), per-class NMS
at ``gate.yolo.iou``, boxes mapped back to source pixels. Class names come from the
export's metadata (Ultralytics writes ``names``); without it, a C=80 model is COCO.
"""
from __future__ import annotations

import ast
import logging
from pathlib import Path

import cv2
import numpy as np

from edge.detection import COCO_CLASSES, Detection
from edge.gate.base import DetectorStage, Region
from edge.gate.config import YoloConfig
from edge.gate.regions import expand_to_min

log = logging.getLogger(__name__)

LETTERBOX_FILL = 114   # Ultralytics' padding grey (what the model saw in training)
BOX_FIELDS = 4         # cx, cy, w, h ahead of the class scores
MIN_CROP = 96          # as YoloDetector: a stride-32 grid needs context around a small region


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """`image` scaled to fit `size`x`size` (aspect kept) and padded; returns (img, scale, (pad_x, pad_y))."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nh, nw) != (h, w) else image
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), LETTERBOX_FILL, dtype=np.uint8)
    out[pad_y:pad_y + nh, pad_x:pad_x + nw] = resized
    return out, scale, (pad_x, pad_y)


def decode(output: np.ndarray, conf: float, iou: float, scale: float, pad: tuple[int, int],
           shape: tuple[int, int], classes: list[int] | None = None) -> list[tuple[float, float, float, float, int, float]]:
    """(x1, y1, x2, y2, class, score) in the source image's pixels (clipped to its (h, w) `shape`), after per-class NMS."""
    pred = output[0] if output.ndim == 3 else output          # (4 + C, N)
    scores_all = pred[BOX_FIELDS:]
    cls = scores_all.argmax(axis=0)
    score = scores_all[cls, np.arange(pred.shape[1])]
    keep = score >= conf
    if classes is not None:
        keep &= np.isin(cls, classes)
    if not keep.any():
        return []
    cx, cy, bw, bh = pred[:BOX_FIELDS, keep]
    cls, score = cls[keep], score[keep]
    x1 = (cx - bw / 2 - pad[0]) / scale
    y1 = (cy - bh / 2 - pad[1]) / scale
    boxes_xywh = np.stack([x1, y1, bw / scale, bh / scale], axis=1)
    idx = cv2.dnn.NMSBoxesBatched(boxes_xywh.tolist(), score.tolist(), cls.tolist(), conf, iou)
    out = []
    for i in np.asarray(idx, dtype=int).reshape(-1):
        x, y, w, h = boxes_xywh[i]
        x1, x2 = np.clip([x, x + w], 0, shape[1])
        y1, y2 = np.clip([y, y + h], 0, shape[0])
        out.append((float(x1), float(y1), float(x2), float(y2), int(cls[i]), float(score[i])))
    return out


def class_names(metadata: dict[str, str], n_classes: int) -> dict[int, str]:
    raw = metadata.get("names")
    if raw:
        try:
            names = ast.literal_eval(raw)
            names = {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
        except (ValueError, SyntaxError):
            log.warning("gate: unreadable class names in the ONNX metadata; using COCO's")
        else:
            # A model built from a stock .yaml has placeholder names; those files are COCO-shaped.
            if not (len(names) == len(COCO_CLASSES) and all(v == str(k) for k, v in names.items())):
                return names
    if n_classes == len(COCO_CLASSES):
        return dict(enumerate(COCO_CLASSES))
    return {i: str(i) for i in range(n_classes)}


class OnnxYoloDetector(DetectorStage):
    """YOLO through ONNX Runtime on the CPU: what a slim edge install runs."""

    name = "yolo-onnx"

    def __init__(self, weights: str, cfg: YoloConfig | None = None):
        import onnxruntime as ort   # only the slim detector needs it
        self.cfg = cfg or YoloConfig()
        self.weights = weights
        opts = ort.SessionOptions()
        opts.log_severity_level = 3   # ORT's warnings about unused initialisers are not the user's problem
        self.session = ort.InferenceSession(weights, sess_options=opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        side = inp.shape[-1]
        self.imgsz = side if isinstance(side, int) else self.cfg.imgsz    # a dynamic export takes the config's size
        n_out = self.session.get_outputs()[0].shape[1]
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = class_names(meta, (n_out - BOX_FIELDS) if isinstance(n_out, int) else len(COCO_CLASSES))
        self.labels = frozenset(self.names.values())
        self.name = f"yolo-onnx:{Path(weights).name}"

    def _infer(self, crop: np.ndarray, conf: float, classes: list[int] | None):
        boxed, scale, pad = letterbox(crop, self.imgsz)
        x = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        out = self.session.run(None, {self.input_name: x})[0]
        return decode(out, conf, self.cfg.iou, scale, pad, crop.shape[:2], classes)

    def detect(self, image: np.ndarray, regions: list[Region] | None = None,
               conf: float = 0.25, classes: list[int] | None = None) -> list[Detection]:
        H, W = image.shape[:2]
        crops = [(0, 0, W, H)] if not regions else [expand_to_min(r, MIN_CROP, MIN_CROP, W, H) for r in regions]
        out: list[Detection] = []
        for x1, y1, x2, y2 in crops:
            for bx1, by1, bx2, by2, c, s in self._infer(image[y1:y2, x1:x2], conf, classes):
                out.append(Detection(bx1 + x1, by1 + y1, bx2 + x1, by2 + y1, self.names.get(c, str(c)), s))
        return out

    def class_ids(self, labels: list[str]) -> list[int] | None:
        ids = [i for i, n in self.names.items() if n in labels]
        return ids or None
