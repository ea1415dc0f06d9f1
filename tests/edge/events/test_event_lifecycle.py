"""Event lifecycle and rules on plain detections (no detector involved)."""
import numpy as np
import pytest
from pydantic import ValidationError

from edge.detection import Detection
from edge.events import EventsConfig, EventTracker, RuleConfig, semantic_hints
from edge.events.config import TrackerConfig
from edge.frame import Frame
from edge.gate.base import GateResult
from edge.sources import CameraConfig
from vigil.v1 import vigil_pb2

W, H = 400, 200
DOOR = {"name": "door", "polygon": [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]}     # right half


def frame(t: float) -> Frame:
    return Frame("cam", int(t * 5), t, np.zeros((H, W, 3), np.uint8))


def person(x: float, score: float = 0.9, label: str = "person") -> Detection:
    return Detection(x, 40, x + 40, 180, label, score)


def run(tracker: EventTracker, script):
    """script: list of (t, [detections]); returns [(t, stage, event)]."""
    out = []
    for t, dets in script:
        for u in tracker.update(frame(t), GateResult(bool(dets), dets)):
            out.append((t, u.stage, u.event, u))
    return out


def cam(**kw) -> CameraConfig:
    return CameraConfig(id="cam", name="Front door", url="", **kw)


def cfg(*rules, **kw) -> EventsConfig:
    return EventsConfig(rules=list(rules) or [RuleConfig(name="object", kind="object")],
                        tracker=TrackerConfig(min_hits=2, max_age_s=1.0, occlusion_max_age_s=1.0), **kw)


def test_new_update_end_for_one_person():
    et = EventTracker(cfg(update_interval_s=1.0), cam())
    script = [(i * 0.2, [person(20 + 5 * i)]) for i in range(12)] + [(2.4 + i * 0.2, []) for i in range(8)]
    out = run(et, script)
    stages = [s for _, s, _, _ in out]
    assert stages[0] == "new" and stages[-1] == "end"
    assert "update" in stages
    assert len({e.event_id for _, _, e, _ in out}) == 1
    t_new = out[0][0]
    assert t_new == pytest.approx(0.2)                      # confirmed on the second hit
    ev = out[-1][2]
    assert ev.onset == pytest.approx(0.2) and ev.ended_at is not None
    assert out[-1][0] - 2.2 >= 1.0                            # ended once unseen for max_age_s
    end = out[-1][3]
    assert end.frame is ev.key_frame and end.detections       # the end carries the key frame


def test_flush_ends_open_events():
    et = EventTracker(cfg(), cam())
    run(et, [(0.0, [person(10)]), (0.2, [person(12)])])
    ups = et.flush(0.5)
    assert [u.stage for u in ups] == ["end"] and not et.open_events


def test_zone_rule_fires_only_inside_the_zone():
    rule = RuleConfig(name="at-door", kind="zone", zone="door", severity=0.8)
    et = EventTracker(cfg(rule), cam(zones=[DOOR]))
    outside = run(et, [(i * 0.2, [person(40 + 10 * i)]) for i in range(5)])       # x <= 120: left half
    assert outside == []
    inside = run(et, [(1.0 + i * 0.2, [person(100 + 40 * i)]) for i in range(6)])  # walks right
    news = [e for _, s, e, _ in inside if s == "new"]
    assert len(news) == 1 and news[0].zone == "door" and news[0].severity == pytest.approx(0.8)


def test_dwell_rule_waits_for_the_dwell_time_and_escalates_the_event():
    rules = (RuleConfig(name="person", kind="object", severity=0.3),
             RuleConfig(name="loiter", kind="dwell", zone="door", dwell_s=2.0, severity=0.9))
    et = EventTracker(cfg(*rules, update_interval_s=10.0), cam(zones=[DOOR]))
    out = run(et, [(i * 0.2, [person(300)]) for i in range(16)])
    assert out[0][1] == "new" and out[0][2].rule == "person"
    esc = [(t, u) for t, s, e, u in out if s == "update"]
    assert len(esc) == 1
    t, u = esc[0]
    assert u.event.rule == "loiter" and u.event.severity == pytest.approx(0.9)
    assert 2.0 <= t <= 2.6 and u.event.dwell_seconds >= 2.0


def test_leaving_the_zone_restarts_the_dwell_clock():
    rule = RuleConfig(name="loiter", kind="dwell", zone="door", dwell_s=1.5, severity=0.9)
    et = EventTracker(cfg(rule), cam(zones=[DOOR]))
    # 1.2 s inside, walks out (left of x=200) and back in: the clock restarts on re-entry
    xs = [300] * 2 + list(range(280, 100, -20)) + [100] * 2 + list(range(120, 300, 20)) + [300] * 12
    out = run(et, [(i * 0.2, [person(x)]) for i, x in enumerate(xs)])
    inside = [x + 20 >= 200 for x in xs]           # bottom-centre in the right half
    reentry = next(i for i in range(1, len(xs)) if inside[i] and not inside[i - 1]) * 0.2
    news = [(t, e) for t, s, e, _ in out if s == "new"]
    assert len(news) == 1
    t, ev = news[0]
    assert t >= reentry + 1.5 - 1e-6 and ev.dwell_seconds >= 1.5
    assert len({e.track_ids[0] for _, _, e, _ in out}) == 1       # one person all along


def test_count_rule_opens_and_closes_with_the_crowd():
    rule = RuleConfig(name="crowd", kind="count", min_count=3, severity=0.7)
    et = EventTracker(cfg(rule), cam())
    two = [person(10), person(150)]
    three = [person(10), person(150), person(300)]
    script = [(0.0, two), (0.2, two), (0.4, three), (0.6, three), (0.8, three)]
    script += [(1.0 + 0.2 * i, two) for i in range(8)]
    out = run(et, script)
    stages = [(t, s) for t, s, _, _ in out]
    assert stages[0] == (0.6, "new")                       # third person confirmed at 0.6
    t_end, s_end = stages[-1]
    assert s_end == "end" and 0.8 + 1.0 < t_end <= 0.8 + 1.0 + 0.2 + 1e-9   # once his track expires
    ev = out[0][2]
    assert ev.labels == {"person": 3} and ev.rule == "crowd"


def test_event_ids_are_unique_and_hints_fit_the_protocol():
    et = EventTracker(cfg(), cam(severity_scale=2.0))
    out = run(et, [(0.0, [person(10), person(250)]), (0.2, [person(12), person(252)])])
    ids = [e.event_id for _, s, e, _ in out if s == "new"]
    assert len(ids) == 2 and len(set(ids)) == 2
    hints = semantic_hints(out[0][2])
    msg = vigil_pb2.SemanticHints(**hints)
    assert msg.camera_name == "Front door" and msg.counts["person"] == 1
    assert msg.severity == pytest.approx(1.0) and msg.event_stage == "new" and msg.rule == "object"


def test_rule_naming_an_unknown_zone_is_an_error_naming_the_key():
    with pytest.raises(ValueError, match=r"events.rules\[0\].zone.*'gate'"):
        EventTracker(cfg(RuleConfig(name="r", kind="zone", zone="gate")), cam(zones=[DOOR]))


def test_bad_rules_are_rejected_at_load_time():
    with pytest.raises(ValidationError, match="zone"):
        RuleConfig(name="r", kind="zone")
    with pytest.raises(ValidationError, match="dwell_s"):
        RuleConfig(name="r", kind="dwell")
    with pytest.raises(ValidationError, match="unknown object class"):
        RuleConfig(name="r", kind="object", objects=["persn"])


def test_the_end_update_carries_the_sharpest_frame_of_the_event():
    import cv2
    rng = np.random.default_rng(0)
    sharp_img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    blurred_img = cv2.GaussianBlur(sharp_img, (21, 21), 8)
    et = EventTracker(cfg(), cam())
    imgs = [blurred_img, blurred_img, sharp_img, blurred_img, blurred_img]
    for i, img in enumerate(imgs):
        f = Frame("cam", i, i * 0.2, img)
        et.update(f, GateResult(True, [person(100 + 2 * i)]))
    (end,) = et.flush(1.0)
    assert end.stage == "end" and end.frame.index == 2


def test_a_zone_for_cars_ignores_people_standing_in_it():
    lot = {"name": "lot", "polygon": DOOR["polygon"], "objects": ["car"]}
    rule = RuleConfig(name="in-lot", kind="zone", zone="lot", objects=["person", "car"], severity=0.6)
    et = EventTracker(cfg(rule), cam(zones=[lot], objects=["person", "car"]))
    assert run(et, [(i * 0.2, [person(300)]) for i in range(5)]) == []
    out = run(et, [(1.0 + i * 0.2, [person(300, label="car")]) for i in range(3)])
    assert [s for _, s, _, _ in out] == ["new"] and out[0][2].zone == "lot"
