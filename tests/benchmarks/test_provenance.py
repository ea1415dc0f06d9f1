import json
from pathlib import Path

from benchmarks.provenance import Provenance, interleaved, ratio, summarize

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_provenance_names_commit_machine_and_load():
    p = Provenance(seeds={"data": 1}).finish(repeats=3)
    assert len(p["commit"]) == 40
    assert p["machine"]["cores"] >= 1 and p["versions"]["python"]
    assert p["seeds"] == {"data": 1} and p["repeats"] == 3
    assert len(p["load_before"]) == 3


def test_summary_and_ratio_intervals_bracket_the_median():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median"] == 3.0 and s["ci95"][0] <= 3.0 <= s["ci95"][1]
    r = ratio([4.0, 4.2, 3.8], [2.0, 2.1, 1.9])
    assert r["ratio"] == 2.0 and r["ci95"][0] <= 2.0 <= r["ci95"][1]


def test_interleaved_order():
    assert interleaved(["a", "b"], 2) == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]


def test_a_named_commit_wins_over_a_stale_git_on_another_machine(monkeypatch):
    monkeypatch.delenv("VIGIL_COMMIT", raising=False)
    named = "0" * 40
    prov = Provenance(commit_given=named).finish()
    assert prov["commit"] == named and prov["dirty"] is False
    assert "commit" in prov["git_on_machine"] and "commit_given" not in prov
