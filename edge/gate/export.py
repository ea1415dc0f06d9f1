"""Export YOLO weights for CPU sites: ONNX (ONNX Runtime) or OpenVINO, through Ultralytics' exporter.

    python -m edge.gate.export yolov8n.pt --format onnx --imgsz 640
    # then in the config:  gate: {detector: yolo, weights: yolov8n.onnx}

An ``.onnx`` runs on a slim edge (``pip install 'vigil[edge]'``: ONNX Runtime, no torch)
through ``OnnxYoloDetector``; an OpenVINO folder through ``YoloDetector`` (Ultralytics).
Exporting needs the ``export`` extra (torch, ultralytics, onnx) on the machine doing it,
once; put the file in ``$VIGIL_WEIGHTS_DIR`` or name it in ``gate.weights``. A fixed input size is exported (``imgsz``) because CPU runtimes are
fastest with static shapes; set ``gate.yolo.imgsz`` to the same value.
"""
from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("onnx", "openvino")


def export_weights(weights: str, fmt: str = "onnx", imgsz: int = 640, half: bool = False) -> Path:
    if fmt not in FORMATS:
        raise ValueError(f"unsupported export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    from ultralytics import YOLO
    out = YOLO(weights).export(format=fmt, imgsz=imgsz, half=half, dynamic=False, simplify=False, verbose=False)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export YOLO weights to ONNX or OpenVINO for CPU edge sites.")
    ap.add_argument("weights", help="a .pt file or name, or a model .yaml (random weights)")
    ap.add_argument("--format", default="onnx", choices=FORMATS)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--half", action="store_true", help="FP16 (OpenVINO)")
    a = ap.parse_args(argv)
    print(export_weights(a.weights, a.format, a.imgsz, a.half))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
