"""The scene generator: deterministic, disjoint splits, truth that matches what is drawn."""
import numpy as np
import pytest

from benchmarks.scenes import FIELDS, chance_scores, field_scores, make_scenes, recipe_hash
from benchmarks.scenes.evaluate import derangement, outside_box_tokens

# Checked by eye on the rendered images (recipe version 1, seed 0).
HAND_CHECKED_TEST = [
    {"summary": "far right", "threat_level": 0, "objects": [{"label": "green dog", "count": 2}],
     "action": "moving right"},
    {"summary": "near left", "threat_level": 0, "objects": [{"label": "black car", "count": 6}],
     "action": "moving left"},
    {"summary": "far right", "threat_level": 0, "objects": [{"label": "green bicycle", "count": 4}],
     "action": "still"},
    {"summary": "far left", "threat_level": 0, "objects": [{"label": "yellow person", "count": 2}],
     "action": "moving right"},
]


def test_same_seed_same_scenes_and_splits_differ():
    a, b = make_scenes("test", 3), make_scenes("test", 3)
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and x.truth == y.truth and x.boxes == y.boxes
    train = make_scenes("train", 3)
    assert not any(np.array_equal(x.image, y.image) for x, y in zip(a, train))
    assert make_scenes("test", 1, seed=1)[0].truth != a[0].truth or not np.array_equal(
        make_scenes("test", 1, seed=1)[0].image, a[0].image)
    assert len(recipe_hash()) == 16


def test_geometry_and_hand_checked_truth():
    scenes = make_scenes("test", len(HAND_CHECKED_TEST))
    assert [s.truth for s in scenes] == HAND_CHECKED_TEST
    for s in scenes:
        assert s.image.shape == (336, 336, 3) and s.image.dtype == np.uint8
        count = s.truth["objects"][0]["count"] if s.truth["objects"] else 0
        assert len(s.boxes) == count
        assert set(np.unique(s.mask)) - {0} <= set(range(1, count + 1))


def test_truth_agrees_with_boxes_on_many_scenes():
    for s in make_scenes("val", 40):
        if not s.truth["objects"]:
            assert s.boxes == [] and s.truth["summary"] == "empty"
            continue
        depth, side = s.truth["summary"].split()
        centres = [(b[0] + b[2]) / 2 for b in s.boxes]
        third = {"left": 0, "centre": 1, "right": 2}[side]
        # streaks widen a box on one side, so test the group's mean centre loosely
        assert third * 112 - 30 <= np.mean(centres) <= (third + 1) * 112 + 30
        feet = np.mean([b[3] for b in s.boxes])
        assert (feet < 200) == (depth == "far")


def test_field_scores():
    truth = HAND_CHECKED_TEST[0]
    assert field_scores(truth, truth) == {**{f: 1.0 for f in FIELDS}, "exact": 1.0}
    wrong = {**truth, "objects": [{"label": "red dog", "count": 2}]}
    s = field_scores(wrong, truth)
    assert s["colour"] == 0.0 and s["class"] == 1.0 and s["exact"] == 0.0
    assert field_scores("not json", truth)["class"] == 0.0
    empty = {"summary": "empty", "threat_level": 0, "objects": [], "action": "none"}
    assert field_scores(empty, empty)["exact"] == 1.0
    assert field_scores(empty, truth)["count"] == 0.0


def test_chance_and_controls():
    truths = HAND_CHECKED_TEST
    assert 0.0 < chance_scores(truths)["field_accuracy"] < 1.0
    perm = derangement(5)
    assert sorted(perm) == list(range(5)) and all(p != i for i, p in enumerate(perm))
    kept = outside_box_tokens([[0, 0, 27, 13]])  # covers patches (0,0), (0,1)... row 0, cols 0-1
    assert 0 not in kept.tolist() and 1 not in kept.tolist() and 2 in kept.tolist() and len(kept) == 574


@pytest.mark.parametrize("split", ["nope"])
def test_bad_split(split):
    with pytest.raises(ValueError):
        make_scenes(split, 1)
