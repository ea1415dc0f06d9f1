"""The layering is a checked rule: the import-linter contracts in pyproject.toml hold.

edge and cloud never import each other; the shared `vigil` package imports neither side (nor kernels,
extras, benchmarks or tests); product code imports no benchmarks, tests or `vigil_tools`; kernels are
a leaf. Imports inside functions count too.
"""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is part of the dev install"
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "BROKEN" not in out.stdout, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout
