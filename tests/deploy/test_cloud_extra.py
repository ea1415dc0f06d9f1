"""`pip install .[cloud]` in a fresh virtual environment: vigil-cloud loads the default model and answers.

The cloud image installs exactly this (docker/cloud.Dockerfile), so a dependency that only the dev
install brings (pillow and torchvision came through `export` before) fails here, not in a container
that crash-loops. The environment is built once per (cloud requirements, constraints.txt, interpreter)
and kept under .cache/cloud-extra/, so later runs cost seconds (Vigil itself is reinstalled from this tree
each run); the first takes several minutes (7 here: torch and its CUDA libraries, ~6 GB, from the package
index pip is set up for). Files identical to the running (dev) environment's are then hard links to them, so the
second environment costs ~1 GB of disk, not ~6 (CI's disk is shared and was once filled by it). Then the installed `vigil-cloud`
(not the source tree) serves one real gRPC request end to end: the edge's hello and one frame, a
described alert at a signed webhook receiver, and a clean exit on SIGTERM.
"""
import asyncio
import filecmp
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import sysconfig
import tomllib
from pathlib import Path

import grpc
import pytest

from vigil_tools.webhook_echo import WebhookReceiver

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
NOT_IN_CLOUD = ("ultralytics", "onnxruntime", "aiortc", "pytest", "opencv-python", "grpcio-tools")
INSTALL_TIMEOUT_S = 1500
SECRET = "cloud-extra-test-secret"


def _recipe_key() -> str:
    """Changes only when what `.[cloud]` installs can change: its requirements, the constraints, the interpreter."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    h = hashlib.sha256(json.dumps([project["dependencies"], project["optional-dependencies"]["cloud"]]).encode())
    h.update((ROOT / "constraints.txt").read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:12]


def _install_this_checkout(venv: Path) -> None:
    """Vigil itself, from this tree, on every run (seconds): the cached environment holds the dependencies."""
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
                    str(ROOT)], check=True, timeout=300)


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def share_identical_files(target: Path, source: Path, min_bytes: int = 1 << 20) -> int:
    """Replace each file under ``target`` that is byte-identical to the same path under ``source`` (and at least
    ``min_bytes`` long) by a hard link to it; returns the bytes saved. pip replaces files, it never writes into
    them, so two environments sharing a file cannot change each other. A different filesystem saves nothing."""
    saved = 0
    for path in target.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        twin = source / path.relative_to(target)
        try:
            st, tw = path.stat(), twin.stat()
        except OSError:
            continue
        if st.st_size < min_bytes or st.st_size != tw.st_size or st.st_ino == tw.st_ino or st.st_dev != tw.st_dev:
            continue
        if not filecmp.cmp(path, twin, shallow=False):
            continue
        tmp = path.with_name(path.name + ".vigil-link")
        os.link(twin, tmp)
        os.replace(tmp, path)
        saved += st.st_size
    return saved


@pytest.fixture(scope="module")
def cloud_venv() -> Path:
    venv = ROOT / ".cache" / "cloud-extra" / _recipe_key()
    if (venv / ".complete").is_file():
        _install_this_checkout(venv)
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    print(f"building the cloud-only environment in {venv} (once per pyproject/constraints change)", flush=True)
    # Not editable: the installed package (its package data included) is what runs, as in the image.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off",
                    "-c", str(ROOT / "constraints.txt"), f"{ROOT}[cloud]"], check=True, timeout=INSTALL_TIMEOUT_S)
    saved = share_identical_files(_site_packages(venv), Path(sysconfig.get_paths()["purelib"]))
    print(f"{saved / 1e9:.1f} GB shared with the running environment by hard links", flush=True)
    (venv / ".complete").write_text("ok\n")
    return venv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIGIL_"))}
    env["HF_HUB_OFFLINE"] = "1"
    return env


def test_cloud_extra_pip_check_is_clean_and_has_no_edge_or_dev_stack(cloud_venv):
    python = str(cloud_venv / "bin" / "python")
    listing = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                             check=True).stdout.lower()
    installed = {line.split("==")[0] for line in listing.splitlines()}
    assert not installed & set(NOT_IN_CLOUD), f"the cloud extra pulled {sorted(installed & set(NOT_IN_CLOUD))}"
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _messages() -> list:
    """The edge's side of one event: hello with the demo token, then two frames of one person."""
    import cv2
    import numpy as np

    from vigil.v1 import vigil_pb2 as pb
    img = np.zeros((48, 64, 3), np.uint8)
    cv2.rectangle(img, (10, 10), (40, 40), (0, 200, 0), -1)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    frames = [pb.EdgeMessage(frame=pb.FramePacket(
        camera_id="cam-1", sequence=seq, capture_time=time.time(), event_onset=time.time(), event_id="ev1",
        priority=pb.SEMANTIC_FRAME, jpeg=jpeg, width=64, height=48, source_width=64, source_height=48,
        detections=[pb.Detection(box=pb.Box(x1=10, y1=10, x2=40, y2=40), label="person", score=0.9, track_id=1)],
        hints=pb.SemanticHints(counts={"person": 1}, severity=0.7, camera_name="door"))) for seq in (1, 2)]
    return [pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token", agent_version="t")),
            *frames]


async def _one_request(port: int) -> list:
    from vigil.v1 import vigil_pb2_grpc as pb_grpc
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = pb_grpc.IngestStub(ch).Stream()
        for m in _messages():
            await call.write(m)
        replies = []
        async for r in call:            # until the cloud sends the event's result
            replies.append(r.WhichOneof("body"))
            if replies[-1] == "result":
                await call.done_writing()
                break
        return replies


def test_installed_vigil_cloud_loads_the_default_model_and_answers_one_request(cloud_venv, tmp_path):
    rx = WebhookReceiver(SECRET, quiet=True).start()
    port = _free_port()
    env = _env()
    env.update(VIGIL_WEBHOOK_SECRET=SECRET, VIGIL_CLOUD__API__PORT=str(_free_port()),
               VIGIL_CLOUD__STORE__PATH=str(tmp_path / "events.db"),
               VIGIL_CLOUD__ALERTS__OUTBOX_PATH=str(tmp_path / "outbox.db"))
    # cwd outside the repository: the installed package is imported, never the source tree.
    proc = subprocess.Popen([str(cloud_venv / "bin" / "vigil-cloud"), "--demo", "--port", str(port),
                             "--webhook", rx.url], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            probe = subprocess.run([str(cloud_venv / "bin" / "python"), "-m", "cloud.health", f"127.0.0.1:{port}"],
                                   cwd=tmp_path, env=env, capture_output=True, timeout=30)
            if probe.returncode == 0:
                break
            time.sleep(1)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        replies = asyncio.run(asyncio.wait_for(_one_request(port), timeout=240))
        assert replies[0] == "welcome" and "result" in replies
        deadline = time.time() + 60
        while time.time() < deadline and not any(r.body["stage"] == "described" for r in rx.received):
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        err = proc.stderr.read()
        rx.stop()
    assert rc == 0, err[-3000:]
    assert "model loaded" in err
    stages = [(r.body["stage"], r.body.get("description_status")) for r in rx.received]
    assert stages == [("detected", "pending"), ("described", "ok")], (stages, err[-3000:])


def test_share_identical_files_links_only_byte_identical_files(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for root in (src, dst):
        (root / "pkg").mkdir(parents=True)
    same, other = b"a" * 4096, b"b" * 4096
    (src / "pkg" / "same.so").write_bytes(same)
    (dst / "pkg" / "same.so").write_bytes(same)
    (src / "pkg" / "changed.so").write_bytes(same)
    (dst / "pkg" / "changed.so").write_bytes(other)
    (dst / "pkg" / "only_here.so").write_bytes(same)
    (src / "pkg" / "small.py").write_bytes(b"x")
    (dst / "pkg" / "small.py").write_bytes(b"x")
    assert share_identical_files(dst, src, min_bytes=1024) == 4096
    assert (dst / "pkg" / "same.so").stat().st_ino == (src / "pkg" / "same.so").stat().st_ino
    assert (dst / "pkg" / "changed.so").read_bytes() == other
    assert (dst / "pkg" / "small.py").stat().st_ino != (src / "pkg" / "small.py").stat().st_ino
    assert (dst / "pkg" / "only_here.so").read_bytes() == same
    assert not list(dst.rglob("*.vigil-link"))
    assert share_identical_files(dst, src, min_bytes=1024) == 0     # already shared
