"""The tracker keeps ids stable across frames and lets lost tracks go."""
from edge.detection import Detection
from edge.events.config import TrackerConfig
from edge.events.iou_tracker import IouTracker


def person(x: float, y: float = 50, w: float = 40, h: float = 100, score: float = 0.9) -> Detection:
    return Detection(x, y, x + w, y + h, "person", score)


def test_a_walking_person_keeps_one_id():
    tr = IouTracker(TrackerConfig(min_hits=2))
    ids = []
    for i in range(10):
        d = person(10 + 12 * i)            # 60 px/s at 5 fps
        tr.update([d], i * 0.2)
        ids.append(d.track_id)
    assert ids[0] == -1                    # not confirmed on its first frame
    assert len(set(ids[1:])) == 1 and ids[1] > 0


def test_two_people_crossing_paths_keep_their_ids():
    tr = IouTracker(TrackerConfig(min_hits=1, match_iou=0.1))
    a_ids, b_ids = set(), set()
    for i in range(8):
        a, b = person(20 + 15 * i, y=40), person(240 - 15 * i, y=60)
        tr.update([a, b], i * 0.2)
        a_ids.add(a.track_id)
        b_ids.add(b.track_id)
    assert len(a_ids) == 1 and len(b_ids) == 1 and a_ids != b_ids


def test_a_missed_frame_is_bridged_by_prediction():
    tr = IouTracker(TrackerConfig(min_hits=1, max_age_s=1.0))
    first = person(0)
    tr.update([first], 0.0)
    tr.update([person(20)], 0.2)
    tr.update([], 0.4)                     # detector missed him
    later = person(60)
    tr.update([later], 0.6)
    assert later.track_id == first.track_id


def test_labels_must_agree_and_weak_detections_do_not_start_tracks():
    tr = IouTracker(TrackerConfig(min_hits=1, high_score=0.6))
    car = Detection(0, 0, 40, 100, "car", 0.9)
    tr.update([car], 0.0)
    p = person(0, y=0)
    tr.update([p], 0.2)
    assert p.track_id != car.track_id
    weak = person(300, score=0.4)
    tr.update([weak], 0.4)
    assert weak.track_id == -1 and len(tr.tracks) == 2


def test_tracks_expire_after_max_age():
    tr = IouTracker(TrackerConfig(min_hits=1, max_age_s=1.0))
    tr.update([person(0)], 0.0)
    tr.update([], 0.8)
    assert len(tr.tracks) == 1 and not tr.removed
    tr.update([], 1.2)
    assert not tr.tracks and len(tr.removed) == 1


def test_a_body_box_then_a_nested_head_box_is_the_same_person():
    tr = IouTracker(TrackerConfig(min_hits=1, match_iou=0.2))
    body = Detection(10, 13, 146, 144, "person", 0.9)
    tr.update([body], 0.0)
    head = Detection(45, 40, 86, 122, "person", 0.9)       # IoU with the body box ~0.19
    tr.update([head], 0.2)
    assert head.track_id == body.track_id
