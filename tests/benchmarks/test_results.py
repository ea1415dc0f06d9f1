"""Every committed benchmark result says what it measured (provenance) and README shows exactly it."""
import json
import re
from pathlib import Path

import pytest

from benchmarks.report import END, RESULTS, headline_keys, render, result_files

ROOT = Path(__file__).resolve().parents[2]
MIN_REPEATS = 3
RESULT_FILES = result_files(RESULTS)


def _block(text: str) -> str:
    start = text.index("<!-- results:begin")   # README may still carry the older marker text
    return text[start:text.index(END) + len(END)]


def test_published_results_tables_match_the_json():
    """docs/results.md and README's Results section are exactly what the report renders now
    (values, goals, misses and staleness): python -m benchmarks.report --write docs/results.md --write README.md"""
    want = render()
    for doc in (ROOT / "docs" / "results.md", ROOT / "README.md"):
        assert _block(doc.read_text()) == want, \
            f"{doc.name} results are out of date: python -m benchmarks.report --write docs/results.md --write README.md"


@pytest.mark.parametrize("path", RESULT_FILES, ids=[p.name for p in RESULT_FILES])
def test_result_has_provenance_repeats_and_intervals(path):
    data = json.loads(path.read_text())
    prov = data.get("provenance")
    assert isinstance(prov, dict), f"{path.name}: no provenance (benchmarks/provenance.py)"
    assert re.fullmatch(r"[0-9a-f]{40}", prov.get("commit", "")), f"{path.name}: provenance.commit missing"
    assert "dirty" in prov and prov.get("load_before") is not None, f"{path.name}: provenance incomplete"
    # Repeats apply to measurements that vary run to run; a deterministic evaluation (greedy
    # decoding on fixed inputs) says so in repeats_not_applicable or a repeats_note.
    deterministic = prov.get("repeats_not_applicable") or "deterministic" in str(prov.get("repeats_note", ""))
    if not deterministic:
        assert isinstance(prov.get("repeats"), int) and prov["repeats"] >= MIN_REPEATS, \
            f"{path.name}: provenance.repeats must be >= {MIN_REPEATS} (or say why in repeats_not_applicable)"
    for key in headline_keys(path.stem, data):
        if ("ratio" in key or "reduction" in key) and isinstance(data.get(key), (int, float)):
            assert f"{key}_ci95" in data, f"{path.name}: headline {key} has no {key}_ci95"


def test_report_tolerates_unknown_and_partial_results(tmp_path):
    (tmp_path / "foo.json").write_text(json.dumps({"benchmark": "foo", "speedup": 2.5, "speedup_ci95": [2.1, 2.9],
                                                   "floors": {"speedup": {"floor": 2.0}}, "other": 1}))
    (tmp_path / "bar.json").write_text(json.dumps({"acceptance": 0.7, "note": "x"}))
    (tmp_path / "serve.json").write_text(json.dumps({"benchmark": "serve", "ttd_p95_s_engine_pruned_at_2x": None}))
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "mem.json").write_text(json.dumps({"memory_ratio": {"value": 7.9, "goal": 8.0, "ci95": [7, 9]},
                                                   "weights": 5}))
    (tmp_path / "kv_profile_x.json").write_text(json.dumps({"threshold": 0.75}))
    out = render(tmp_path)
    assert "`foo.json` speedup | 2.5 | [2.1, 2.9] | 2 | yes | **stale** | no provenance |" in out
    assert "`bar.json` acceptance | 0.7" in out and "`serve.json` ttd_p95_s_engine_pruned_at_2x | – |" in out
    assert "broken" not in out and "other" not in out and "kv_profile" not in out
    assert "`mem.json` memory_ratio | 7.9 | [7, 9] | 8 | **missed** |" in out and "weights" not in out
