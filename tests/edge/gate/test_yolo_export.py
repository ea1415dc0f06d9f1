"""The CPU-site path: YOLO exported to ONNX computes what the PyTorch model does and loads as a detector."""
import numpy as np
import pytest

pytest.importorskip("onnx", reason="the edge extra installs onnx; without it there is nothing to export with")
ort = pytest.importorskip("onnxruntime")

from edge.gate import GateConfig, OnnxYoloDetector, YoloDetector, build_detector  # noqa: E402
from edge.gate.config import YoloConfig  # noqa: E402
from edge.gate.export import export_weights  # noqa: E402


def test_onnx_export_matches_torch_and_runs_as_the_gate_detector(tmp_path, monkeypatch):
    import torch
    from ultralytics import YOLO

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    yaml_model = YOLO("yolov8n.yaml")
    pt = tmp_path / "tiny.pt"
    yaml_model.save(str(pt))
    onnx_path = export_weights(str(pt), "onnx", imgsz=160)
    assert onnx_path.suffix == ".onnx" and onnx_path.is_file()

    x = torch.rand(1, 3, 160, 160)
    torch_model = YOLO(str(pt)).model.eval()
    with torch.no_grad():
        ref = torch_model(x)
    ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())

    det = build_detector(GateConfig(detector="yolo", weights=str(onnx_path), yolo={"imgsz": 160}))
    assert isinstance(det, OnnxYoloDetector) and "person" in det.labels    # the slim path: no torch needed
    img = np.random.default_rng(2).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    region = (100, 40, 260, 200)
    for d in det.detect(img, [region], conf=1e-4):
        assert region[0] - 1 <= d.x1 <= d.x2 <= region[2] + 1 and d.label in det.labels

    # Our letterbox + decode + NMS finds what Ultralytics' own predictor finds on the same export.
    ours = det.detect(img, None, conf=0.01)
    theirs = YoloDetector(str(onnx_path), YoloConfig(imgsz=160)).detect(img, None, conf=0.01)
    assert len(ours) == len(theirs)
    key = lambda d: (d.label, round(d.score, 2))  # noqa: E731
    for a, b in zip(sorted(ours, key=key), sorted(theirs, key=key)):
        assert a.label == b.label and abs(a.score - b.score) < 1e-3
        assert np.allclose(a.box(), b.box(), atol=2.0)
