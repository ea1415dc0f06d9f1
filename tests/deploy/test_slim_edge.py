"""`pip install .[edge]` in a fresh virtual environment: no torch, and the edge runs the sample clip from it.

The environment is built once per (edge requirements, constraints.txt, interpreter) and kept
under .cache/slim-edge/, so a second run costs seconds; the first takes a couple of minutes
(it installs from the package index the machine's pip is set up for). The edge then runs
from the source tree with that interpreter: the gate, tracker, DAT and gRPC client on
a real clip, against a cloud with a stand-in engine in this process.
"""
import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cloud.config import load_cloud_config
from cloud.service import CloudService
from vigil.footage import clip_path

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "transformers", "ultralytics")
INSTALL_TIMEOUT_S = 900


def _recipe_key() -> str:
    """Changes only when what `.[edge]` installs can change: its requirements, the constraints, the interpreter."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    h = hashlib.sha256(json.dumps([project["dependencies"], project["optional-dependencies"]["edge"]]).encode())
    h.update((ROOT / "constraints.txt").read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:12]


@pytest.fixture(scope="module")
def slim_python() -> Path:
    venv = ROOT / ".cache" / "slim-edge" / _recipe_key()
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    print(f"building the slim edge environment in {venv} (once per pyproject/constraints change)", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "--progress-bar", "off", "-c", str(ROOT / "constraints.txt"),
                    f"{ROOT}[edge]"], check=True, timeout=INSTALL_TIMEOUT_S)
    (venv / ".complete").write_text("ok\n")
    return python


def test_edge_extra_installs_no_torch_and_pip_check_is_clean(slim_python):
    listing = subprocess.run([str(slim_python), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                             text=True, check=True).stdout.lower()
    installed = {line.split("==")[0] for line in listing.splitlines()}
    assert not installed & set(HEAVY), f"the edge extra pulled {sorted(installed & set(HEAVY))}"
    assert "opencv-python" not in installed and "opencv-python-headless" in installed    # one OpenCV wheel
    check = subprocess.run([str(slim_python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


class _RefusingEngine:
    """Stands in for the model: every description fails at once (the edge only needs its results)."""
    model_name = "none"
    sees_images = True

    async def describe(self, req):
        raise RuntimeError("no model in this test")

    def backpressure(self):
        return 0.0


def test_slim_edge_runs_the_sample_clip(slim_python, tmp_path):
    clip = clip_path("bikes.mp4")

    async def run_edge():
        cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0}, "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None},
                                                       "alerts": {"outbox_path": None}})
        service = CloudService(cfg, engine=_RefusingEngine(), sinks=[])
        port = await service.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIGIL_"))}
        env.update(VIGIL_EDGE__CLOUD__RESULTS_GRACE_S="5", VIGIL_EDGE__TRANSMIT__DAT__SPOOL_DIR=str(tmp_path / "spool"),
                   VIGIL_EDGE__STATUS_INTERVAL_S="1", VIGIL_WEIGHTS_DIR=str(tmp_path))
        try:
            proc = await asyncio.create_subprocess_exec(
                str(slim_python), "-m", "edge.cli", "--demo", "--camera", str(clip), "--cloud", f"127.0.0.1:{port}",
                cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=240)
        finally:
            await service.stop()
        return proc.returncode, out.decode(), err.decode(), service

    rc, out, err, service = asyncio.run(run_edge())
    assert rc == 0, err[-3000:]
    assert "gate detector hog" in err                     # no ONNX model given: HOG, and the log says so
    assert re.search(r"camera cam-1: \w+, [\d.]+ fps, gated \d+/\d+, sent \d+ \| link (up|down), estimate ", err)
    assert "packets sent 0," not in out and service.service.stats["packets"] > 0


def test_slim_edge_runs_an_exported_yolo_through_onnx_runtime(slim_python, tmp_path):
    """Export once with the full stack (the `export` extra), run it where torch is absent."""
    pytest.importorskip("ultralytics")
    import torch
    from ultralytics import YOLO

    from edge.gate.export import export_weights

    torch.manual_seed(0)
    pt = tmp_path / "tiny.pt"
    YOLO("yolov8n.yaml").save(str(pt))
    onnx_path = export_weights(str(pt), "onnx", imgsz=160)
    code = ("import sys, numpy as np\n"
            "from edge.gate import GateConfig, build_detector\n"
            "det = build_detector(GateConfig(weights='tiny.pt', yolo={'imgsz': 160}))\n"
            "dets = det.detect(np.zeros((240, 320, 3), np.uint8), conf=0.5)\n"
            "print(det.name, len(det.labels), 'torch' in sys.modules, 'ultralytics' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIGIL_"))}
    env["VIGIL_WEIGHTS_DIR"] = str(onnx_path.parent)     # gate.weights names the .pt; its .onnx is found here
    out = subprocess.run([str(slim_python), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["yolo-onnx:tiny.onnx", "80", "False", "False"]


# What python:3.11-slim already has: glibc, the GCC runtime and zlib (apt itself depends on them).
BASE_IMAGE_LIBS = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libutil.so.1",
                   "libgcc_s.so.1", "libstdc++.so.6", "libz.so.1"}


def test_slim_edge_needs_no_system_packages(slim_python):
    """Every compiled module of the edge install links only to what the slim base image has (the edge
    Dockerfile installs no apt package: no libGL, no ffmpeg)."""
    if not shutil.which("ldd"):
        pytest.skip("ldd not available")
    site = next((slim_python.parent.parent / "lib").glob("python3*/site-packages"))
    needed = set()
    for so in site.rglob("*.so*"):
        out = subprocess.run(["ldd", str(so)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            name, _, where = line.strip().partition(" => ")
            if where and str(site) not in where:
                needed.add(name)
    bundled_by_wheels = {n for n in needed if re.search(r"-[0-9a-f]{8}\.so", n)}   # auditwheel's hashed copies
    assert needed - bundled_by_wheels <= BASE_IMAGE_LIBS, sorted(needed - bundled_by_wheels - BASE_IMAGE_LIBS)
    assert "apt-get" not in (ROOT / "docker/edge.Dockerfile").read_text().split("FROM")[-1]
