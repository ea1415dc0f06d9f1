"""The Grafana dashboard only charts series that the edge or the cloud exports."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def test_dashboard_series_exist():
    dash = json.loads((ROOT / "deploy/grafana/vigil.json").read_text())
    exported = (ROOT / "cloud/metrics.py").read_text() + (ROOT / "edge/metrics.py").read_text()
    names = {n for p in dash["panels"] for t in p["targets"] for n in re.findall(r"vigil_[a-z_]+", t["expr"])}
    assert len(names) >= 15
    for name in names:
        base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s) and f'"{name[: -len(s)]}"' in exported), name)
        assert f'"{base}"' in exported, f"dashboard charts {name}, which nothing exports"
