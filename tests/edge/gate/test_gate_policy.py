"""GatePolicy is pure bookkeeping: when the detector runs and when a frame passes without it."""
from edge.detection import Detection
from edge.gate.policy import Action, GatePolicy

FULL = (0, 0, 640, 480)
PERSON = Detection(100, 100, 160, 260, "person", 0.9)


def test_no_motion_and_nothing_seen_skips_the_detector():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5)
    d = p.decide(0.0, [])
    assert d.action == Action.SKIP and not d.passed


def test_motion_runs_the_detector_and_a_hit_passes():
    p = GatePolicy()
    assert p.decide(0.0, [FULL]).action == Action.DETECT
    assert p.after_detect(0.0, [PERSON]) == (True, "detected")


def test_tracked_object_coasts_until_the_interval_is_up():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5)
    p.decide(0.0, [(90, 90, 170, 270)])
    p.after_detect(0.0, [PERSON])
    d = p.decide(0.2, [(95, 95, 175, 275)])
    assert d.action == Action.COAST and d.passed and d.detections == [PERSON]
    assert p.decide(0.6, [(95, 95, 175, 275)]).action == Action.DETECT


def test_motion_away_from_tracked_objects_runs_the_detector():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5)
    p.after_detect(0.0, [PERSON])
    assert p.decide(0.2, [(500, 300, 600, 400)]).action == Action.DETECT


def test_scene_change_forces_a_fresh_detection():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5)
    p.after_detect(0.0, [PERSON])
    assert p.decide(0.2, [FULL], scene_change=True).action == Action.DETECT


def test_detector_miss_is_held_only_briefly():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.0)
    p.after_detect(0.0, [PERSON])
    assert p.after_detect(0.4, []) == (True, "held")
    assert p.after_detect(0.8, []) == (True, "held")
    assert p.after_detect(1.2, []) == (False, "nothing-detected")


def test_a_motionless_person_keeps_passing_within_hold_then_stops():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5)
    p.after_detect(0.0, [PERSON])
    assert p.decide(0.5, []).reason == "stationary"
    assert p.decide(1.5, []).action == Action.SKIP


def test_interval_zero_detects_on_every_motion_frame():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.0)
    p.after_detect(0.0, [PERSON])
    assert p.decide(0.2, [(95, 95, 175, 275)]).action == Action.DETECT


def test_while_holding_frames_between_detector_runs_coast_on_the_last_boxes():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5)
    near = [(95, 95, 175, 275)]
    p.after_detect(0.0, [PERSON])
    assert p.decide(0.6, near).action == Action.DETECT
    assert p.after_detect(0.6, []) == (True, "held")          # the detector flickered
    d = p.decide(0.8, near)
    assert d.action == Action.COAST and d.detections == [PERSON]
    assert p.decide(1.2, near).action == Action.DETECT          # hold over: ask the detector again
    assert p.after_detect(1.2, []) == (False, "nothing-detected")
    assert p.decide(1.4, near).action == Action.DETECT and not p.memory


def test_camera_motion_runs_the_detector_at_most_every_interval():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5, camera_motion_fraction=0.5, camera_motion_interval_s=0.4)
    assert p.decide(0.0, [FULL], motion_fraction=1.0).action == Action.DETECT
    p.after_detect(0.0, [])
    d = p.decide(0.2, [FULL], motion_fraction=0.9)                  # pan, nothing seen: skipped, not passed
    assert d.action == Action.SKIP and d.reason == "camera-motion-skip" and not d.passed
    assert p.decide(0.2, [(10, 10, 50, 50)], motion_fraction=0.01).action == Action.DETECT   # object motion: looked at
    assert p.decide(0.4, [FULL], motion_fraction=0.9).action == Action.DETECT


def test_camera_motion_with_a_recent_object_passes_on_its_boxes():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.0, camera_motion_fraction=0.5, camera_motion_interval_s=0.4)
    p.after_detect(0.0, [PERSON])
    d = p.decide(0.2, [FULL], scene_change=True)
    assert d.action == Action.COAST and d.passed and d.reason == "camera-motion" and d.detections == [PERSON]


def test_camera_motion_throttle_off_by_default():
    p = GatePolicy(hold_s=1.0, detect_interval_s=0.5)
    p.after_detect(0.0, [])
    assert p.decide(0.2, [FULL], motion_fraction=1.0).action == Action.DETECT
