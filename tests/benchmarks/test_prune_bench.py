"""prune.py's pure parts: the pre-registered gamma rule and the paired "beats" verdicts."""
import pytest

from benchmarks import prune
from benchmarks.prune import (COMPARE_BUDGETS, COMPARED, HEADLINE, candidate_label, choose_gamma,
                              gamma_candidates, headline, with_settings)

GRID = gamma_candidates([0.0, 50.0, 100.0, 200.0, 1000.0], ["embeds", "keys"])


def _arms(retention: dict[str, float], budgets=(16, 64)) -> dict:
    return {f"{label}@{b}": {"retention": r} for label, r in retention.items() for b in budgets}


def test_the_grid_has_light_diversity_both_feature_spaces_and_gamma_zero_once():
    assert GRID[0] == (0.0, "embeds") and len(GRID) == 9
    assert {(g, s) for g, s in GRID if g} == {(g, s) for g in (50, 100, 200, 1000) for s in ("embeds", "keys")}
    assert candidate_label(0.0) == f"{HEADLINE}@g0" and candidate_label(50.0, "keys") == f"{HEADLINE}@g50:keys"


def test_rule_picks_the_best_mean_retention_and_ties_go_to_top_k_then_embeds_then_smaller_gamma():
    ret = {candidate_label(g, s): 0.80 for g, s in GRID}
    ret[candidate_label(200.0, "keys")] = 0.85
    assert (choose_gamma(_arms(ret), GRID, (16, 64))["chosen_gamma"],
            choose_gamma(_arms(ret), GRID, (16, 64))["chosen_similarity"]) == (200.0, "keys")
    ret = {candidate_label(g, s): 0.80 for g, s in GRID}
    assert choose_gamma(_arms(ret), GRID, (16, 64))["chosen_gamma"] == 0.0          # a tie: plain top-k
    ret[candidate_label(0.0)] = 0.70
    c = choose_gamma(_arms(ret), GRID, (16, 64))
    assert (c["chosen_gamma"], c["chosen_similarity"]) == (50.0, "embeds")
    assert "ties: gamma 0" in c["rule"] and ">= 16 val scenes" in c["rule"]


def _quality(correct: dict[str, list[list[int]]]) -> dict:
    arms = {}
    for label, rows in correct.items():
        for b in prune.BUDGETS:
            acc = sum(map(sum, rows)) / (5 * len(rows))
            arms[f"{label}@{b}"] = {"retention": acc, "correct": rows}
    return arms


def test_a_tie_with_fastv_is_not_a_win():
    same = [[1, 1, 0, 1, 1]] * 40
    better = [[1, 1, 1, 1, 1]] * 40
    h = headline(_quality({HEADLINE: same, "fastv": same, "random": [[0, 0, 0, 1, 1]] * 40,
                           "divprune": same, "id_selection_cls": same}))
    assert h["id_selection_beats_fastv"] is False and h["id_selection_beats_baselines"] is False
    assert h["id_selection_minus_fastv_16"] == {"value": 0.0, "ci95": [0.0, 0.0], "verdict": "tie"}
    assert h["id_selection_beats"]["random"] is True
    assert h["goals"]["id_selection_beats_fastv"] is True and h["goals_met"]["id_selection_beats_fastv"] is False
    assert h["goals"]["id_selection_retention_16"] == 0.90
    h = headline(_quality({HEADLINE: better, **{x: same for x in COMPARED}}))
    assert h["id_selection_beats_fastv"] and h["id_selection_beats_baselines"]
    assert set(h["comparisons"]) == set(prune.BUDGETS) and h["compare_budgets"] == list(COMPARE_BUDGETS)


def test_chosen_settings_apply_to_both_id_selection_arms_only():
    arms = with_settings({"gamma": 100.0, "similarity": "keys"})
    assert arms[HEADLINE]["gamma"] == 100.0 and arms["id_selection_cls"]["similarity"] == "keys"
    assert "gamma" not in arms["fastv"] and arms == {**arms, "fastv": prune.PRUNERS["fastv"]}
    assert with_settings({}) == prune.PRUNERS



def test_runs_below_the_rules_scene_minimums_are_refused(monkeypatch, capsys):
    for argv in (["--split", "val", "--gammas", "0,50", "--scenes", "8"], ["--from-val", "--scenes", "16"]):
        monkeypatch.setattr("sys.argv", ["prune", *argv])
        with pytest.raises(SystemExit):
            prune.main()
        assert "at least" in capsys.readouterr().err
