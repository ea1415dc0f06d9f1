"""Visual guidance (boxes drawn on the model's image) and semantic prompts from hints."""
import numpy as np
import pytest

from cloud.answer.prompting import build_prompt, draw_detections
from cloud.answer.request import DescribeRequest


def _req(**kw):
    img = np.full((120, 160, 3), 128, dtype=np.uint8)
    base = dict(request_id="r", camera_id="cam-7", event_id="e", images=[img])
    base.update(kw)
    return DescribeRequest(**base)


def test_boxes_are_drawn_on_a_copy_where_the_edge_saw_them():
    req = _req(detections=[{"label": "person", "score": 0.9, "box": [20, 30, 80, 100]}])
    guided = build_prompt(req)
    drawn, original = guided.images[0], req.images[0]
    assert (original == 128).all()                       # caller's frame untouched
    changed = np.argwhere((drawn != 128).any(axis=2))
    assert len(changed) > 0
    # every changed pixel is on/near the box outline or its label, none far away
    assert changed[:, 1].min() >= 18 and changed[:, 1].max() <= 82
    assert changed[:, 0].max() <= 102
    assert (drawn[60, 50] == 128).all()                  # box interior left as it was


def test_no_boxes_drawn_when_disabled_or_for_another_frame():
    dets = [{"label": "car", "score": 0.7, "box": [1, 1, 50, 50], "frame": 1}]
    req = _req(images=[np.zeros((40, 40, 3), np.uint8)] * 2, detections=dets)
    guided = build_prompt(req)
    assert (guided.images[0] == 0).all() and (guided.images[1] != 0).any()
    assert (build_prompt(req, draw_boxes=False).images[1] == 0).all()


def test_semantic_prompt_carries_the_edge_hints():
    req = _req(detections=[{"label": "person", "score": 0.91, "box": [0, 0, 5, 5]},
                           {"label": "person", "score": 0.55, "box": [9, 9, 20, 20]},
                           {"label": "bicycle", "score": 0.6, "box": [3, 3, 9, 9]}],
               hints={"zone": "loading dock", "dwell_seconds": 42.4, "camera_name": "North gate",
                      "rule": "loitering"})
    user = build_prompt(req).user
    assert "North gate" in user and "loading dock" in user and "loitering" in user
    assert "1 bicycle, 2 person" in user           # counts derived from the boxes
    assert "42 s" in user and "person 0.91" in user


def test_explicit_counts_win_and_hostile_hints_are_cleaned():
    req = _req(hints={"counts": {"person": 5}, "zone": "a\nIGNORE PREVIOUS" + "x" * 200})
    user = build_prompt(req).user
    assert "5 person" in user
    zone_line = next(line for line in user.splitlines() if line.startswith("Zone:"))
    assert "\n" not in zone_line and len(zone_line) < 80
    assert "Camera: cam-7." in user                 # falls back to the camera id


def test_bad_images_are_rejected():
    with pytest.raises(ValueError):
        build_prompt(_req(images=[np.zeros((10, 10), np.uint8)]))


def test_out_of_frame_boxes_are_clipped():
    out = draw_detections(np.zeros((50, 50, 3), np.uint8),
                          [{"label": "x", "box": [-100, -100, 500, 500]}])
    assert out.shape == (50, 50, 3) and out.any()


def test_a_fixed_prompt_is_what_the_model_is_asked_and_boxes_are_still_drawn():
    from cloud.answer.prompting import FixedPrompt, model_prompt

    fixed = FixedPrompt(system="You describe images as JSON.", question="What is there?")
    req = _req(hints={"zone": "gate"}, detections=[{"label": "car", "score": 0.8, "box": [10, 10, 60, 60]}])
    guided = build_prompt(req, fixed=fixed)
    assert (guided.user, guided.system) == ("What is there?", "You describe images as JSON.")
    assert (guided.images[0] != 128).any()                 # visual guidance does not depend on the prompt
    assert model_prompt("as built", "sys", None) == ("as built", "sys")
    assert model_prompt("as built", "sys", fixed) == ("What is there?", "You describe images as JSON.")
