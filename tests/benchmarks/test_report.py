"""The results table shows each headline beside its goal, marks misses and stale results, and never
shows an unpaired verdict as a win or a run's inputs as results."""
import json
import subprocess
from pathlib import Path

import pytest

from benchmarks.catalog import CATALOG
from benchmarks.report import END, MISSED, RESULTS, STALE_MARK, UNPAIRED, headline_keys, render, result_files
from benchmarks.staleness import FRESH, STALE, UNKNOWN, result_staleness, staleness

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "docs" / "results.md"


def _table_rows(text: str) -> list[list[str]]:
    block = text[text.index("<!-- results:begin"):text.index(END)]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()
            if line.startswith("| `")]


def _row(out: str, start: str) -> list[str]:
    return next(r for r in _table_rows(out) if r[0].startswith(start))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "a.py").write_text("x = 1\n")
    (tmp_path / "other.py").write_text("y = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "measured")
    return tmp_path


def test_a_result_goes_stale_only_when_the_code_it_measures_changes(repo):
    measured = _git(repo, "rev-parse", "HEAD")
    assert staleness(measured, ["code"], repo).state == FRESH
    (repo / "other.py").write_text("y = 2\n")
    _git(repo, "commit", "-qam", "unrelated")
    assert staleness(measured, ["code"], repo).state == FRESH
    (repo / "code" / "a.py").write_text("x = 2\n")
    _git(repo, "commit", "-qam", "changes the measured code")
    changed = _git(repo, "rev-parse", "HEAD")
    s = staleness(measured, ["code"], repo)
    assert s.state == STALE and s.stale and s.later_commits == 1 and s.first_later == changed
    (repo / "code" / "a.py").unlink()            # a moved or deleted path is a change too
    _git(repo, "commit", "-qam", "moves it")
    assert staleness(measured, ["code"], repo).later_commits == 2
    assert staleness(changed, ["code"], repo).later_commits == 1


def test_an_unknown_commit_or_no_commit_counts_as_stale(repo):
    assert staleness("0" * 40, ["code"], repo).state == UNKNOWN
    assert staleness(None, ["code"], repo).stale
    assert result_staleness("nothing_known", {"provenance": {"commit": _git(repo, "rev-parse", "HEAD")}}, repo).stale


def test_every_benchmark_names_the_code_it_measures_and_those_paths_exist_in_history():
    for name, spec in CATALOG.items():
        assert spec.measures, name
        for path in spec.measures:
            assert _git(ROOT, "log", "-1", "--format=%H", "--", path), f"{name}: {path} never existed"


def test_the_published_table_never_hides_a_stale_result():
    """Staleness is judged now, against today's history: a result whose measured code changed after
    its commit must be marked stale in docs/results.md (regenerate it; rerun the benchmark to clear it).
    This does not require results to be fresh; it requires the table to say when they are not."""
    rows = _table_rows(PUBLISHED.read_text())
    for path in result_files(RESULTS):
        data = json.loads(path.read_text())
        mine = [r for r in rows if r[0].startswith(f"`{path.name}`")]
        assert mine or not headline_keys(path.stem, data), f"{path.name} has headlines but no row in docs/results.md"
        st = result_staleness(path.stem, data)
        want = STALE_MARK if st.stale else "fresh"
        for r in mine:
            assert r[5] == want, f"{path.name} is {st.state} ({st.why or 'no later change'}) but docs/results.md shows {r[5]!r}"


def test_goals_are_read_misses_marked_and_ceilings_respected(tmp_path):
    (tmp_path / "spec_x.json").write_text(json.dumps({
        "benchmark": "spec", "loose_speedup": 1.5, "loose_speedup_ci95": [1.4, 1.6], "strict_exact": True,
        "goals": {"loose_speedup": 2.0, "strict_exact": True}}))
    (tmp_path / "load.json").write_text(json.dumps({
        "alerts_lost": 2, "cameras": 300, "latency_goal_s": 1.0, "overload_alerts_lost": 0,
        "sweep": [{"cameras": 300, "p99_detected_latency_s": {"median": 0.05, "ci95": [0.04, 0.06]}}]}))
    out = render(tmp_path)
    assert _row(out, "`spec_x.json` loose_speedup")[1:5] == ["1.5", "[1.4, 1.6]", "2", MISSED]
    assert _row(out, "`spec_x.json` strict_exact")[1:5] == ["yes", "", "yes", "yes"]
    assert _row(out, "`load.json` alerts_lost")[3:5] == ["≤ 0", MISSED]
    p99 = _row(out, "`load.json` p99_detected_latency_s at 300 cameras")
    assert p99[1:5] == ["0.05", "[0.04, 0.06]", "≤ 1", "yes"]
    # the run's inputs are never rows of their own
    assert not [r for r in _table_rows(out) if r[0] in ("`load.json` cameras", "`load.json` latency_goal_s")]


def test_a_tie_counted_as_a_win_is_never_shown_as_a_win(tmp_path):
    (tmp_path / "kv.json").write_text(json.dumps({
        "beats_uniform": {"value": True, "goal": 0.97}}))                       # the old ">=" verdict
    (tmp_path / "prune.json").write_text(json.dumps({
        "id_selection_retention_16": 0.786, "id_selection_beats_baselines": False}))   # predates `goals`
    out = render(tmp_path)
    assert _row(out, "`kv.json` beats_uniform")[1] == UNPAIRED and _row(out, "`kv.json` beats_uniform")[4] == MISSED
    assert _row(out, "`prune.json` id_selection_retention_16")[3:5] == ["0.9", MISSED]
    assert _row(out, "`prune.json` id_selection_beats_baselines")[1:5] == ["no", "", "yes", MISSED]
    (tmp_path / "kv.json").write_text(json.dumps({
        "beats_uniform": {"value": False, "goal": True, "ci95": [-0.01, 0.02], "verdict": "tie"}}))
    (tmp_path / "prune.json").write_text(json.dumps({
        "id_selection_beats_fastv": True, "comparisons": {}, "goals": {"id_selection_beats_fastv": True},
        "id_selection_minus_fastv_16": {"value": 0.03, "ci95": [0.01, 0.05], "verdict": "win"}}))
    out = render(tmp_path)
    assert _row(out, "`kv.json` beats_uniform")[1:5] == ["no (tie)", "[-0.01, 0.02]", "yes", MISSED]
    assert _row(out, "`prune.json` id_selection_beats_fastv")[1:5] == ["yes", "", "yes", "yes"]
    assert _row(out, "`prune.json` id_selection_minus_fastv_16")[1:3] == ["0.03 (win)", "[0.01, 0.05]"]


def test_kv_gpu_slowdown_against_dense_is_a_result_with_its_goal(tmp_path):
    ms = {"dense_sdpa": {"median": 0.64, "values": [0.66, 0.62, 0.64]},
          "hybrid_triton": {"median": 12.96, "values": [12.6, 13.1, 12.96]}}
    (tmp_path / "kv_gpu.json").write_text(json.dumps({"ms_per_decode_step_all_layers": ms}))
    row = _row(render(tmp_path), "`kv_gpu.json` hybrid_triton decode step time / dense SDPA's")
    assert float(row[1]) == pytest.approx(12.96 / 0.64, rel=0.01) and row[3:5] == ["≤ 1", MISSED]


def test_a_change_undone_later_leaves_the_result_fresh(repo):
    """Staleness is about the measured code, not the history: a change reverted before HEAD changes nothing."""
    measured = _git(repo, "rev-parse", "HEAD")
    (repo / "code" / "a.py").write_text("x = 2\n")
    _git(repo, "commit", "-qam", "changes it")
    assert staleness(measured, ["code"], repo).state == STALE
    (repo / "code" / "a.py").write_text("x = 1\n")
    _git(repo, "commit", "-qam", "undoes it")
    assert staleness(measured, ["code"], repo).state == FRESH
