"""Recipe v2: two groups, distractors, occlusion, multi-frame events; scored over eight fields."""
import numpy as np

from benchmarks.scenes import events as ev
from benchmarks.scenes import generator as v1
from benchmarks.scenes import recipe_task, scoring


def _events(n=24):
    return ev.make_events("test", n, seed=0)


def test_events_are_deterministic_and_keyed_apart_from_v1():
    a, b = ev.render_event("val", 3, 5), ev.render_event("val", 3, 5)
    assert a.truth == b.truth and all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))
    assert ev.recipe_hash() != v1.recipe_hash()
    assert not np.array_equal(ev.render_event("train", 0, 0).image, ev.render_event("test", 0, 0).image)


def test_truth_lists_both_groups_main_first_with_its_place_and_action():
    for e in _events():
        objs = e.truth["objects"]
        assert len(e.frames) == ev.FRAMES and len(objs) == 2
        assert objs[0]["count"] > objs[1]["count"] >= 1              # the main group is the larger one
        assert objs[0]["label"].split()[1] != objs[1]["label"].split()[1]
        assert e.truth["summary"] in v1.POSITIONS and e.truth["action"] in v1.ACTIONS
        assert e.group_of.count(0) == objs[0]["count"] and e.group_of.count(1) == objs[1]["count"]
        # the main group stays inside its third in every frame
        side = v1.SIDES.index(e.truth["summary"].split()[1])
        for boxes in e.boxes:
            for g, box in zip(e.group_of, boxes):
                if g == 0:
                    cx = (box[0] + box[2]) / 2
                    assert side * 112 - 1 <= cx <= (side + 1) * 112 + 1


def test_only_the_main_group_moves_and_only_across_frames():
    seen = set()
    for e in _events(40):
        dxs = [b2[0] - b0[0] for b0, b2 in zip(e.boxes[0], e.boxes[-1])]
        main = [dx for dx, g in zip(dxs, e.group_of) if g == 0]
        second = [dx for dx, g in zip(dxs, e.group_of) if g == 1]
        assert all(dx == 0 for dx in second)
        sign = {"still": 0, "moving left": -1, "moving right": 1}[e.truth["action"]]
        assert np.sign(np.median(main)) == sign
        seen.add(e.truth["action"])
    assert seen == set(v1.ACTIONS)


def test_still_events_differ_between_frames_by_noise_only():
    for e in _events(40):
        if e.truth["action"] == "still":
            diff = np.abs(e.frames[0].astype(int) - e.frames[-1].astype(int))
            assert np.array_equal(e.masks[0], e.masks[-1]) and diff.mean() < 10
            return
    raise AssertionError("no still event")


def test_some_instances_are_partly_hidden_and_masks_match_groups():
    posts = 0
    for e in _events():
        assert set(np.unique(e.masks[1])) <= set(range(len(e.group_of) + 1))
        posts += int((e.image == np.array([128, 128, 128], np.uint8)).all(axis=2).sum() > 50)
    assert posts >= 5   # grey posts stand in several events


def test_v2_scoring_has_eight_fields_and_counts_on_its_own():
    e = _events(1)[0]
    truth = e.truth
    assert scoring.field_scores(truth, truth, recipe=2)["exact"] == 1.0
    swapped = {**truth, "objects": truth["objects"][::-1]}
    s = scoring.field_scores(swapped, truth, recipe=2)
    assert s["count"] == 0.0 and s["count2"] == 0.0 and s["counts"] == 0.0 and s["position"] == 1.0
    one = {**truth, "objects": truth["objects"][:1]}
    s = scoring.field_scores(one, truth, recipe=2)
    assert s["class"] == s["count"] == 1.0 and s["class2"] == s["count2"] == 0.0 and s["exact"] == 0.0
    assert scoring.field_scores("not json", truth, recipe=2)["class"] == 0.0
    m = scoring.mean_scores([scoring.field_scores(truth, truth, recipe=2), s], recipe=2)
    assert m["field_accuracy"] == sum(m[f] for f in scoring.FIELDS_V2) / 8 and "counts" in m
    # recipe 1 scores exactly as before
    assert scoring.mean_scores([scoring.field_scores(truth, truth)]).keys() == {*scoring.FIELDS, "exact",
                                                                                 "field_accuracy"}


def test_recipe_task_gives_frames_per_request():
    t1, t2 = recipe_task(1), recipe_task(2)
    assert len(t1.frames(t1.make_scenes("test", 1)[0])) == 1
    e = t2.make_scenes("test", 1)[0]
    assert len(t2.frames(e)) == ev.FRAMES and len(t2.boxes(e)) == ev.FRAMES
    assert t2.chance_scores([x.truth for x in t2.make_scenes("test", 30)])["field_accuracy"] < 0.5
