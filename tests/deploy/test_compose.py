"""compose.yaml: valid against the compose spec, everything it names exists, and each image's entry runs."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
BUILT = sorted(n for n, svc in COMPOSE["services"].items() if "build" in svc)   # the rest run an upstream image


def _expand(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set in the environment."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_compose_validates_against_compose_spec():
    exe = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is part of the dev install"
    out = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", BUILT)
def test_build_context_dockerfile_and_mounts_exist(name, compose):
    svc = COMPOSE["services"][name]
    ctx = ROOT / svc["build"]["context"]
    assert (ctx / svc["build"]["dockerfile"]).is_file()
    for stage in compose.dockerfile_stages(ctx / svc["build"]["dockerfile"]):
        for part in stage["copy"]:
            assert (ctx / part).exists(), f"{svc['build']['dockerfile']} copies missing {part}"
    for vol in svc.get("volumes", []):
        host = vol.split(":")[0]
        if host.startswith("."):
            assert (ROOT / host).exists(), f"{name} mounts missing {host}"


def _entrypoint(svc) -> list[str]:
    if "entrypoint" in svc:
        return [part.replace("$$", "$") for part in svc["entrypoint"]]   # compose's escape for a literal $
    text = (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).read_text()
    return yaml.safe_load(re.search(r"^ENTRYPOINT\s+(\[.*\])$", text, flags=re.M).group(1))


def _run_entry(name: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The image's ENTRYPOINT with `args`, here: console scripts and `python` from this install."""
    entry = _entrypoint(COMPOSE["services"][name])
    exe = BIN / entry[0]                 # an absolute entry (/bin/sh) stays itself
    assert exe.exists(), f"console script {entry[0]} is not installed"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "CAMERA_URL", "PYTHON"))}
    base.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", **env)
    return subprocess.run([str(exe), *entry[1:], *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=base)


@pytest.mark.parametrize("name", BUILT)
def test_entry_command_runs_help(name):
    out = _run_entry(name, ["--help"], {})
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr


def test_edge_entry_requires_a_camera_unless_demo():
    refused = _run_entry("edge", ["--check-config"], {"VIGIL_DEMO": "false"})
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "CAMERA_URL is not set" in refused.stderr
    assert _run_entry("edge", ["--check-config"], {"VIGIL_DEMO": "true"}).returncode == 0
    # With a camera set, the entry hands over to vigil-edge, whose --check-config applies every start-up
    # refusal: outside a demo that is the published demo token (no token was given here), not the camera.
    with_camera = _run_entry("edge", ["--check-config"], {"CAMERA_URL": "rtsp://cam/stream"})
    assert with_camera.returncode == 2 and "CAMERA_URL" not in with_camera.stderr
    assert "VIGIL_EDGE_TOKEN" in with_camera.stderr
    env = COMPOSE["services"]["edge"]["environment"]
    assert env["CAMERA_URL"] == "${CAMERA_URL:-}" and env["VIGIL_DEMO"] == "${VIGIL_DEMO:-false}"


def test_a_refusal_is_not_restarted_forever():
    for name, svc in COMPOSE["services"].items():
        policy = _expand(svc["restart"])
        assert re.fullmatch(r"on-failure:\d+", policy), f"{name}: restart {policy}"


def test_scale_profile_stops_edge_then_gateway_then_workers_then_delivery():
    """Compose stops in reverse dependency order: each stops before what it depends on."""
    services = COMPOSE["services"]
    assert "gateway" in services["edge"]["depends_on"]
    assert "worker" in services["gateway"]["depends_on"] and "delivery" in services["worker"]["depends_on"]
    assert "gateway" not in services["delivery"]["depends_on"] and "edge" not in services["worker"]["depends_on"]


def test_scale_roles_share_one_image_and_the_gpu_cloud_has_its_own():
    services = COMPOSE["services"]
    images = {services[n]["image"] for n in ("cloud", "gateway", "worker", "delivery")}
    assert images == {"vigil/cloud:local"}
    assert services["cloud-gpu"]["image"] != "vigil/cloud:local"
    assert services["cloud-gpu"]["build"]["args"]["TORCH_INDEX_URL"] == ""       # CUDA torch for the GPU


def test_real_model_by_default_and_the_random_one_only_by_name():
    cpu = _expand(COMPOSE["services"]["cloud"]["environment"]["VIGIL_CLOUD__ENGINE__MODEL"])
    gpu = _expand(COMPOSE["services"]["cloud-gpu"]["environment"]["VIGIL_CLOUD__ENGINE__MODEL"])
    assert cpu == "Qwen/Qwen2.5-VL-3B-Instruct" and gpu == "Qwen/Qwen2.5-VL-7B-Instruct"
    from cloud.fetch_model import hub_model
    assert hub_model(cpu) == cpu and hub_model(gpu) == gpu          # downloaded on the first start
    for name in ("cloud", "worker"):                                # the start period covers the download
        assert int(COMPOSE["services"][name]["healthcheck"]["start_period"].rstrip("s")) >= 1800


@pytest.mark.parametrize("name,module", [("cloud", "cloud.config:load_cloud_config"),
                                         ("edge", "edge.config:load_edge_config")])
def test_service_config_loads_with_compose_environment(name, module):
    import importlib
    mod, fn = module.split(":")
    load = getattr(importlib.import_module(mod), fn)
    svc = COMPOSE["services"][name]
    env = {k: _expand(str(v)) for k, v in svc.get("environment", {}).items()}
    cfg_file = next(v.split(":")[0] for v in svc["volumes"] if v.startswith("./config/"))
    cfg = load(ROOT / cfg_file, environ=env)
    if name == "edge":
        assert cfg.cloud.target == "cloud:50051" and cfg.cameras[0].url == "sample:bikes.mp4"
    else:
        assert str(cfg.alerts.webhooks[0].url).startswith("http://webhook-echo:8080")
        assert cfg.engine.model == "Qwen/Qwen2.5-VL-3B-Instruct"


def test_upstream_images_are_pinned_to_a_major_version():
    for name, svc in COMPOSE["services"].items():
        if "build" not in svc:
            image = svc["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"


@pytest.mark.parametrize("name,role", [("gateway", "gateway"), ("worker", "worker"), ("delivery", "delivery")])
def test_scale_profile_services_run_their_role_in_redis_mode(name, role):
    svc = COMPOSE["services"][name]
    assert svc["profiles"] == ["scale"] and svc["command"][:2] == ["--role", role]
    assert "redis" in svc["depends_on"]
    from cloud.config import load_cloud_config
    env = {k: _expand(str(v)) for k, v in svc["environment"].items()}
    cfg = load_cloud_config(ROOT / svc["volumes"][0].split(":")[0], environ=env)
    assert cfg.scale.mode == "redis" and cfg.scale.redis_url == "redis://redis:6379/0"
    assert cfg.alerts.outbox_path is not None and str(cfg.alerts.webhooks[0].url).startswith("http://webhook-echo")


def test_scale_gateway_takes_the_clouds_place_for_the_edge():
    gateway = COMPOSE["services"]["gateway"]
    assert "cloud" in gateway["networks"]["default"]["aliases"]
    assert gateway["ports"] == COMPOSE["services"]["cloud"]["ports"][:1]
    assert COMPOSE["services"]["edge"]["depends_on"]["gateway"]["required"] is False
    assert "redis-data:/data" in COMPOSE["services"]["redis"]["volumes"]
    assert "noeviction" in COMPOSE["services"]["redis"]["command"]
