"""Light paths stay light: reading either side's config imports no torch, the pure gate policy no OpenCV,
and the sample webhook receiver nothing beyond the standard library and `vigil`.

Each check runs in a fresh interpreter, since this test process has imported everything already.
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imported_after(code: str, watch: tuple[str, ...]) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {watch!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("code", [
    "from cloud.config import load_cloud_config; load_cloud_config()",
    "from edge.config import load_edge_config; load_edge_config()",
])
def test_loading_config_imports_no_torch_or_opencv(code):
    assert _imported_after(code, ("torch", "transformers", "cv2")) == []


def test_gate_policy_imports_no_opencv():
    assert _imported_after("from edge.gate import GatePolicy; GatePolicy", ("cv2", "torch")) == []


def test_webhook_receiver_needs_only_the_standard_library():
    heavy = ("cloud", "edge", "pydantic", "yaml", "grpc", "numpy", "httpx")
    assert _imported_after("import vigil_tools.webhook_echo", heavy) == []


def test_lazy_export_names_every_module_attribute():
    """Each lazily exported name exists where the table says (a typo would only fail at first use)."""
    code = ("import importlib\n"
            "for pkg in ('cloud.engine', 'cloud.prune', 'edge.gate', 'edge.events', 'edge.sources'):\n"
            "    mod = importlib.import_module(pkg)\n"
            "    for name in mod.__all__:\n"
            "        getattr(mod, name)")
    assert _imported_after(code, ()) == []
