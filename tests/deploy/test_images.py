"""What each image holds, from its Dockerfile's COPY lines and .dockerignore (no Docker engine needed).

Each image copies only what it runs, never a virtual environment, caches, benchmarks or
tests; every final stage runs as a non-root user; every service has a healthcheck and a
stop grace period; the GPU cloud is a profile; the sample receiver runs on the standard
library alone.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
# Paths a developer's tree holds after `make install`, `make demo` or a benchmark (absent from git).
LOCAL_LEFTOVERS = [".venv/bin/python", ".cache/footage/bikes.mp4", ".cache/models/x/model.safetensors",
                   "var/spool/1.pkt", "edge/__pycache__/agent.cpython-311.pyc", "yolov8n.pt", "edge/yolov8n.onnx",
                   ".env", "benchmarks/results/serve.json", "tests/edge/test_agent.py"]
FORBIDDEN = (".venv/", ".cache/", "benchmarks/", "tests/", "var/", "__pycache__", ".env")
ALLOWED_TOPS = {"cloud.Dockerfile": {"cloud", "kernels", "vigil"}, "edge.Dockerfile": {"edge", "vigil"},
                "webhook-echo.Dockerfile": {"vigil", "vigil_tools"}}
BUILD_FILES = {"constraints.txt", "pyproject.toml", "README.md"}


def _tree() -> list[str]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return files + LOCAL_LEFTOVERS


@pytest.mark.parametrize("dockerfile", sorted(ALLOWED_TOPS))
def test_image_copies_only_what_it_runs(dockerfile, compose):
    files = compose.image_files(DOCKER / dockerfile, _tree())
    assert files, f"{dockerfile} copies nothing"
    for f in files:
        assert not any(bad in f"{f}/" or f.startswith(bad) for bad in FORBIDDEN), f"{dockerfile} would contain {f}"
        top = f.split("/")[0]
        assert top in ALLOWED_TOPS[dockerfile] or f in BUILD_FILES, f"{dockerfile} copies {f}, which it does not run"


def test_edge_image_has_no_cloud_kernels_or_benchmarks(compose):
    files = compose.image_files(DOCKER / "edge.Dockerfile", _tree())
    assert "edge/agent.py" in files and "vigil/v1/vigil_pb2.py" in files
    assert not {f for f in files if f.split("/")[0] in ("cloud", "kernels", "benchmarks", "vigil_tools")}


def test_build_context_leaves_out_venv_caches_and_benchmarks(compose):
    rules = compose.dockerignore_rules(ROOT)
    for path in LOCAL_LEFTOVERS[:-2] + ["benchmarks/dat.py", "tests/conftest.py"]:
        assert not compose.in_context(path, rules), f".dockerignore lets {path} into the build context"
    assert compose.in_context("edge/agent.py", rules) and compose.in_context("pyproject.toml", rules)


@pytest.mark.parametrize("dockerfile", sorted(ALLOWED_TOPS))
def test_final_stage_runs_as_non_root(dockerfile, compose):
    final = compose.dockerfile_stages(DOCKER / dockerfile)[-1]
    assert final["user"] not in (None, "root", "0"), f"{dockerfile} runs as root"


def test_every_service_has_healthcheck_and_grace_period_and_gpu_is_a_profile(compose):
    services = compose.spec["services"]
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert svc.get("stop_grace_period"), f"{name} has no stop_grace_period"
    assert services["cloud-gpu"]["profiles"] == ["gpu"]
    assert services["cloud-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    env_file = (ROOT / ".env").read_text()
    assert "COMPOSE_PROFILES=cpu" in env_file         # plain `docker compose up` gets the CPU cloud
    # On SIGTERM the cloud, the workers and delivery drain for up to alerts.drain_timeout_s: the grace
    # period must cover it and the exit.
    from cloud.config import load_cloud_config
    drain = load_cloud_config(ROOT / "config/cloud.yaml", environ={}).alerts.drain_timeout_s
    for name in ("cloud", "cloud-gpu", "worker", "delivery"):
        assert int(services[name]["stop_grace_period"].rstrip("s")) >= drain + 5, name


def test_webhook_receiver_runs_from_its_copied_files_on_the_standard_library(tmp_path, compose):
    for f in compose.image_files(DOCKER / "webhook-echo.Dockerfile", _tree()):
        if f not in BUILD_FILES:
            (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / f, tmp_path / f)
    entry = compose.dockerfile_stages(DOCKER / "webhook-echo.Dockerfile")[-1]["entrypoint"]
    assert entry[0] == "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run([sys.executable, "-S", *entry[1:], "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env=env)       # -S: no site-packages, the standard library only
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr


def test_receiver_pretty_prints_descriptions_and_refuses_the_demo_secret():
    from vigil_tools.webhook_echo import format_alert, main
    text = format_alert({"alert_id": "a" * 12, "stage": "described", "camera_id": "cam-1", "event_id": "e1",
                         "description_status": "ok", "description": {"summary": "Ein Radfahrer überquert."}})
    assert "\n  \"summary\": \"Ein Radfahrer überquert.\"" in text       # indented, no \\u escapes
    assert main(["--secret", "change-this-secret", "--port", "0"]) == 2
