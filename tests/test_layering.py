"""The layering is a checked rule: the import-linter contracts in pyproject.toml hold.

edge and cloud never import each other; the shared `vigil` package imports neither side (nor kernels,
extras, benchmarks or tests); product code imports no benchmarks, test harnesses (`testkit`), tests or
`vigil_tools`; kernels are a leaf. Inside cloud/ two layers contracts state the floors (process roots over ingest over the parts
they wire; the engine's runner over its plug-ins over the model adapters), and reading a config
imports no torch; the alerts import no protobuf or gRPC. Imports inside functions count too, here and for the circles below.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is part of the dev install"
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "BROKEN" not in out.stdout, out.stdout + out.stderr
    assert "10 kept, 0 broken" in out.stdout


def _circles(graph) -> list[list[str]]:
    """Import circles among the graph's modules (strongly connected components of more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in graph.modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return found


@pytest.mark.parametrize("package", ["cloud", "edge", "vigil"])
def test_no_import_circles(package):
    """No module reaches itself through imports, lazy ones included (a circle made harmless by a lazy
    import is still two modules that cannot be read apart)."""
    grimp = pytest.importorskip("grimp")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    assert _circles(grimp.build_graph(package, include_external_packages=False)) == []


def test_benchmark_only_models_are_loaded_by_name_only():
    """Nothing in the product imports cloud.models.bench: the registry loads it by name (BUILT_MODELS);
    benchmarks and tests may."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("cloud", "benchmarks", "testkit", include_external_packages=False)
    bench = {m for m in graph.modules if m == "cloud.models.bench" or m.startswith("cloud.models.bench.")}
    importers = {m for b in bench for m in graph.find_modules_that_directly_import(b)} - bench
    assert bench and {m for m in importers if not m.startswith("benchmarks.")} == set(), importers

