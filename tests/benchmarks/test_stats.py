"""Paired comparisons: a tie is not a win, and a real difference is found."""
import random

import pytest

from benchmarks.stats import LOSS, TIE, WIN, compare, mcnemar, paired_bootstrap, verdict


def test_identical_arms_tie_and_do_not_beat():
    rows = [[1, 1, 0, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 1, 0]] * 20
    c = compare(rows, rows)
    assert c["diff"] == 0.0 and c["ci95"] == [0.0, 0.0]
    assert c["verdict"] == TIE and c["beats"] is False
    assert c["mcnemar"] == {"a_only": 0, "b_only": 0, "p": 1.0, "decisions": 300}


def test_one_field_of_one_scene_is_not_a_win():
    # kv.json's old beats_uniform: 0.956 vs 0.954 out of 500 decisions counted as a win by ">="
    b = [[1, 1, 1, 1, 1] for _ in range(100)]
    a = [list(r) for r in b]
    b[7][2] = 0
    c = compare(a, b)
    assert c["diff"] > 0 and c["ci95"][0] <= 0 <= c["ci95"][1]
    assert c["verdict"] == TIE and not c["beats"]
    assert c["mcnemar"]["a_only"] == 1 and c["mcnemar"]["p"] == 1.0


def test_a_consistent_gain_over_the_same_scenes_is_a_win_and_the_reverse_a_loss():
    rng = random.Random(1)
    b = [[int(rng.random() < 0.6) for _ in range(5)] for _ in range(64)]
    a = [[max(x, int(rng.random() < 0.5)) for x in r] for r in b]   # A right wherever B is, and more
    assert compare(a, b)["verdict"] == WIN and compare(a, b)["beats"]
    assert compare(b, a)["verdict"] == LOSS and not compare(b, a)["beats"]
    assert compare(a, b)["mcnemar"]["p"] < 0.001 and compare(a, b)["mcnemar"]["b_only"] == 0


def test_pairing_finds_a_small_difference_that_unpaired_spread_would_hide():
    # Scenes vary a lot, the arms differ by a constant 0.02 on every scene: paired, that is certain.
    base = [i / 100 for i in range(100)]
    boot = paired_bootstrap([x + 0.02 for x in base], base)
    assert boot["diff"] == pytest.approx(0.02) and boot["ci95"][0] == pytest.approx(0.02)
    assert verdict(boot["ci95"]) == WIN


def test_mcnemar_exact_values():
    # 10 discordant decisions split 9:1: two-sided exact p = 2 * (1 + 10) / 1024
    a = [True] * 9 + [False] + [True] * 5
    b = [False] * 9 + [True] + [True] * 5
    assert mcnemar(a, b) == {"a_only": 9, "b_only": 1, "p": pytest.approx(22 / 1024), "decisions": 15}
    assert mcnemar([True, False], [False, True])["p"] == 1.0


def test_unpaired_inputs_are_refused_and_empty_input_is_a_tie():
    with pytest.raises(ValueError, match="same scenes"):
        compare([[1]], [[1], [0]])
    with pytest.raises(ValueError, match="same units"):
        paired_bootstrap([1.0], [])
    assert paired_bootstrap([], [])["ci95"] == [None, None] and verdict([None, None]) == TIE


def test_deterministic():
    a = [[1, 0, 1, 1, 0]] * 10 + [[0, 0, 1, 1, 1]] * 10
    b = [[1, 1, 1, 0, 0]] * 20
    assert compare(a, b) == compare(a, b)
