"""When an already described event is described again (cloud/answer/redescribe_policy.py), as data."""
import pytest

from cloud.answer.redescribe_policy import FrameView, RedescribeRule, frame_view, redescribe_reason

ONE_PERSON = (("person", 1),)
SMALL = FrameView(ONE_PERSON, 0.20)
BIT_BETTER = FrameView(ONE_PERSON, 0.22)     # under the 1.25x gain
MUCH_BETTER = FrameView(ONE_PERSON, 0.30)
TWO_PEOPLE = FrameView((("person", 2),), 0.20)
WITH_CAR = FrameView((("car", 1), ("person", 1)), 0.10)

RULE = RedescribeRule()
CASES = [
    # (stage, escalation, first_done, described, now, rule, expected)
    ("update", "zone", True, SMALL, SMALL, RULE, "escalation"),
    ("update", "count", True, SMALL, TWO_PEOPLE, RULE, "escalation"),
    ("update", "", True, SMALL, MUCH_BETTER, RULE, None),              # a periodic update is no escalation
    ("update", "zone", False, SMALL, SMALL, RULE, None),               # the first description is not done
    ("update", "zone", True, None, SMALL, RULE, None),                 # nothing known to compare with
    ("update", "zone", True, SMALL, SMALL, RedescribeRule(on_escalation=False), None),
    ("end", "", True, SMALL, MUCH_BETTER, RULE, "end"),                # a materially better best snapshot
    ("end", "", True, SMALL, BIT_BETTER, RULE, None),                  # not better enough: adds nothing
    ("end", "", True, SMALL, SMALL, RULE, None),                       # the same view: adds nothing
    ("end", "", True, MUCH_BETTER, SMALL, RULE, None),                 # worse
    ("end", "", True, SMALL, TWO_PEOPLE, RULE, "end"),                 # the count changed
    ("end", "", True, SMALL, WITH_CAR, RULE, "end"),                   # another label, even on a worse view
    ("end", "", True, SMALL, MUCH_BETTER, RedescribeRule(on_end=False), None),
    ("end", "", False, SMALL, MUCH_BETTER, RULE, None),
    ("end", "", True, SMALL, BIT_BETTER, RedescribeRule(min_quality_gain=1.05), "end"),
    ("new", "", True, SMALL, MUCH_BETTER, RULE, None),
    ("end", "", True, FrameView(ONE_PERSON, 0.0), FrameView(ONE_PERSON, 0.0), RULE, None),   # 0 >= 1.25 x 0 is no gain
]


@pytest.mark.parametrize("stage,escalation,first_done,described,now,rule,expected", CASES)
def test_redescribe_reason(stage, escalation, first_done, described, now, rule, expected):
    assert redescribe_reason(rule, stage=stage, escalation=escalation, first_done=first_done,
                             described=described, now=now) == expected


def test_frame_view_is_the_best_box_score_times_the_root_of_its_area_share():
    dets = [{"label": "person", "score": 0.5, "box": [0, 0, 10, 10]},     # 0.5 * sqrt(100/10000) = 0.05
            {"label": "person", "score": 0.9, "box": [0, 0, 50, 50]}]     # 0.9 * sqrt(2500/10000) = 0.45
    view = frame_view({"person": 2, "car": 0}, dets, 100, 100)
    assert view == FrameView((("person", 2),), 0.45)
    assert frame_view({}, [], 0, 0).quality == 0.0      # no source size: no view, no error
