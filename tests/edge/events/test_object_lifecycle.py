"""One event per object, as data: flicker, occlusion, crossing paths, scene cut, re-entry, duplicates.

Frames are drawn from plain boxes (a coloured rectangle per object on a textured wall) so the
appearance cue has pixels to look at; detections are the boxes themselves, with faults added by
the script. The plain IoU tracker (``kind: iou``, main's) is the negative control where it fails.
"""
import numpy as np
import pytest

from edge.detection import Detection
from edge.events import EventsConfig, EventTracker, RuleConfig, semantic_hints
from edge.events.config import TrackerConfig
from edge.frame import Frame
from edge.gate.base import GateResult
from edge.sources import CameraConfig
from vigil.v1 import vigil_pb2

W, H, FPS = 480, 240, 5.0
COLOURS = {"red": (40, 40, 220), "blue": (220, 60, 40), "green": (60, 200, 60), "yellow": (40, 220, 230)}
_rng = np.random.default_rng(0)
WALL = _rng.integers(90, 140, (H, W, 3)).astype(np.uint8)          # a fixed camera's background
OTHER_WALL = np.full((H, W, 3), (30, 160, 200), np.uint8)           # what the camera sees after a cut


def draw(objs, wall=WALL, shift=0):
    img = wall.copy()
    for _, box, colour in objs:
        x1, y1, x2, y2 = (int(v) for v in box)
        img[max(0, y1):max(0, y2), max(0, x1 + shift):max(0, x2 + shift)] = COLOURS[colour]
    return img


def person_at(x, y=60, w=30, h=90):
    return (x, y, x + w, y + h)


def run(kind, script, rules=None, zones=(), **tracker):
    """script: per frame (t, [(name, box, colour)], faults) with faults a dict: hide=set of names not
    detected, wall, shift (px the picture moved). Returns (updates, tracker)."""
    cam = CameraConfig(id="cam", name="Street", url="", zones=list(zones))
    cfg = EventsConfig(rules=rules or [RuleConfig(name="object", kind="object")],
                       tracker=TrackerConfig(kind=kind, min_hits=2, max_age_s=1.0, **tracker), update_interval_s=5.0)
    et = EventTracker(cfg, cam)
    out = []
    for k, (t, objs, faults) in enumerate(script):
        shift = faults.get("shift", 0)
        img = draw(objs, faults.get("wall", WALL), shift)
        dets = [Detection(b[0] + shift, b[1], b[2] + shift, b[3], "person", 0.9)
                for name, b, _ in objs if name not in faults.get("hide", set())]
        out += et.update(Frame("cam", k, t, img), GateResult(bool(dets), dets))
        live = {tr.track_id: tr for tr in et.tracker.tracks if tr.detection is not None}
        for tid, ev in et._track_events.items():
            if tid in live:
                TRACE["boxes"].setdefault(ev.event_id, []).append((t, live[tid].detection.x1))
    out += et.flush(script[-1][0] + 5.0)
    return out, et


TRACE: dict = {"boxes": {}}


@pytest.fixture(autouse=True)
def _fresh_trace():
    TRACE["boxes"] = {}


def events(updates):
    return sorted({u.event.event_id for u in updates if u.stage == "new"})


def walk(name, colour, x0, speed, t0, t1, y=60):
    return [(t, (name, person_at(x0 + speed * (t - t0), y), colour)) for t in _times(t0, t1)]


def _times(t0, t1):
    return [round(t0 + k / FPS, 3) for k in range(int(round((t1 - t0) * FPS)) + 1)]


def compose(*tracks, faults=None):
    by_t = {}
    for tr in tracks:
        for t, o in tr:
            by_t.setdefault(t, []).append(o)
    # Frames keep coming while nobody is in view (the tracker must see time pass).
    return [(t, by_t.get(t, []), faults(t) if faults else {}) for t in _times(0.0, max(by_t))]


@pytest.mark.parametrize("kind", ["object", "iou"])
def test_a_flickering_detector_keeps_one_event(kind):
    """Missed on 2 of every 3 frames for 2 s: the track coasts within max_age_s; still one event."""
    script = compose(walk("a", "red", 20, 40, 0.0, 6.0),
                     faults=lambda t: {"hide": {"a"}} if 2.0 <= t < 4.0 and round(t * FPS) % 3 else {})
    assert len(events(run(kind, script)[0])) == 1


def test_an_occlusion_of_a_fast_walker_keeps_one_event():
    """Hidden 0.8 s while walking fast: the box moved away from its last place, the prediction follows it."""
    script = compose(walk("a", "red", 20, 120, 0.0, 3.0), faults=lambda t: {"hide": {"a"}} if 1.0 < t < 1.8 else {})
    after, _ = run("object", script)
    assert len(events(after)) == 1


def test_a_stop_behind_a_pillar_keeps_one_event_and_ends_at_the_last_sighting():
    stand = [(t, ("a", person_at(200), "green")) for t in _times(0.0, 3.0)]
    script = compose(stand, faults=lambda t: {"hide": {"a"}} if 1.0 < t < 1.9 else {})
    out, _ = run("object", script)
    assert len(events(out)) == 1
    end = [u for u in out if u.stage == "end"][0]
    assert end.event.ended_at == pytest.approx(3.0)      # the last sighting, not when max_age_s ran out
    assert end.event.duration == pytest.approx(3.0 - end.event.onset)
    hints = vigil_pb2.SemanticHints(**semantic_hints(end.event))
    assert hints.event_stage == "end" and hints.ended_at == pytest.approx(3.0) and hints.duration_s > 2.0


def test_crossing_paths_keep_their_identities():
    """Red walks right, blue walks left; they overlap for a few frames, one of them unseen at the
    crossing. Each keeps its event: the appearance term of the cost tells them apart."""
    script = compose(walk("red", "red", 20, 80, 0.0, 5.0), walk("blue", "blue", 420, -80, 0.0, 5.0, y=66),
                     faults=lambda t: {"hide": {"blue"}} if 2.4 <= t <= 2.6 else {})
    out, _ = run("object", script)
    assert len(events(out)) == 2
    ends = {u.event.event_id: u for u in out if u.stage == "end"}
    for eid, end in ends.items():       # each event's key frame shows one colour: the identities did not swap
        d = end.detections[0]
        crop = end.frame.image[int(d.y1) + 10:int(d.y2) - 10, int(d.x1) + 5:int(d.x2) - 5].reshape(-1, 3)
        assert len({tuple(p) for p in crop}) <= 2
    trace = TRACE["boxes"]                                   # event -> [(t, x1)] of its track's detections
    for eid, xs in trace.items():                            # each event moves one way only: no swap
        steps = np.diff([x for _, x in xs])
        assert (steps > 0).all() or (steps < 0).all(), (eid, xs)


@pytest.mark.parametrize("kind,expected", [("object", 3), ("iou", 6)])
def test_a_scene_cut_does_not_spawn_a_burst_of_new_events(kind, expected):
    """Three people; at t=2 the camera is knocked: the picture shifts 90 px and the wall changes.
    The object tracker holds off new events and re-associates by appearance; the IoU tracker
    opens three new events (the negative control)."""
    people = [walk("a", "red", 20, 10, 0.0, 4.0), walk("b", "blue", 180, 0, 0.0, 4.0, y=70),
              walk("c", "yellow", 330, -10, 0.0, 4.0, y=50)]
    script = compose(*people, faults=lambda t: {"shift": 90, "wall": OTHER_WALL} if t >= 2.0 else {})
    out, et = run(kind, script)
    assert len(events(out)) == expected
    if kind == "object":
        assert et.cuts.cuts == 1


def test_new_objects_after_a_cut_wait_for_the_hold():
    """A person who appears just after a cut is confirmed only once the hold is over."""
    script = compose(walk("a", "red", 20, 10, 0.0, 1.0),
                     walk("b", "green", 300, 0, 1.2, 4.0), faults=lambda t: {"wall": OTHER_WALL} if t >= 1.2 else {})
    out, _ = run("object", script)
    news = [u for u in out if u.stage == "new"]
    assert len(news) == 2
    assert news[1].frame.capture_time >= 1.2 + TrackerConfig().cut_hold_s - 1e-6


def test_re_entry_after_leaving_is_a_new_event():
    """Red walks out at the right edge and comes back through it 3 s later (longer than max_age_s 1 s):
    it left; coming back is a second event, although it looks the same."""
    script = compose(walk("a", "red", 380, 80, 0.0, 1.4), walk("a2", "red", 470, -80, 4.4, 6.4))
    out, _ = run("object", script)
    ids = events(out)
    assert len(ids) == 2
    assert [u.stage for u in out if u.event.event_id == ids[0]][-1] == "end"


def test_a_long_absence_inside_the_picture_is_a_new_event():
    """Gone for 6 s in the middle of the picture (longer than occlusion_max_age_s 4 s): it left."""
    script = compose(walk("a", "red", 20, 40, 0.0, 2.0), walk("a2", "red", 100, 0, 8.0, 10.0))
    assert len(events(run("object", script)[0])) == 2


@pytest.mark.parametrize("kind,expected", [("object", 1), ("iou", 2)])
def test_a_wait_behind_a_pillar_longer_than_max_age_keeps_one_event(kind, expected):
    """Hidden 2.6 s mid-picture (max_age_s is 1 s): people leave a picture at its edges, so one that
    vanishes inside it is hidden; found again near where it went, looking the same, it is one event
    (the cause of most split events on the synthetic street: waits behind the pillar)."""
    script = compose(walk("a", "red", 60, 40, 0.0, 6.0), faults=lambda t: {"hide": {"a"}} if 2.0 < t < 4.6 else {})
    out, _ = run(kind, script)
    assert len(events(out)) == expected
    if kind == "object":
        (end,) = [u for u in out if u.stage == "end"]
        assert end.event.ended_at == pytest.approx(6.0)


def test_someone_else_after_a_long_occlusion_is_a_new_event():
    """Red is hidden 2.6 s mid-picture; blue comes out where red was: after more than max_age_s the
    track continues only with a detection that looks the same, overlap or not."""
    red = walk("red", "red", 60, 40, 0.0, 2.0)
    blue = walk("blue", "blue", 60 + 40 * 4.6, 40, 4.6, 6.0)
    assert len(events(run("object", compose(red, blue))[0])) == 2


def test_an_object_leaving_at_the_edge_ends_after_max_age_not_the_occlusion_age():
    """Walking out at the right edge is leaving: its end comes max_age_s (1 s) after the last sighting,
    not occlusion_max_age_s (4 s)."""
    script = compose(walk("a", "red", 380, 80, 0.0, 1.4), [(t, ("b", person_at(20), "green")) for t in _times(0.0, 6.0)])
    out, et = run("object", script)
    t_end = [u.frame.capture_time for u in out if u.stage == "end" and u.frame is not None]
    ends = [u for u in out if u.stage == "end"]
    first = min(ends, key=lambda u: u.event.ended_at)
    assert first.event.ended_at == pytest.approx(1.4)
    # ended by the tracker on the frame max_age_s after the last sighting (not by the final flush)
    assert len(ends) == 2 and t_end
    order = [u.stage for u in out]
    assert order.index("end") < len(order) - 1


def test_two_tracks_of_one_object_merge_into_one_event():
    """The detector reports each person twice (a body box and a slightly offset box) from t=1.0 on:
    two confirmed tracks that overlap, move and look alike are one object; the younger event ends
    saying which event it merged into."""
    cam = CameraConfig(id="cam", name="Street", url="")
    cfg = EventsConfig(tracker=TrackerConfig(kind="object", min_hits=2, max_age_s=1.0, merge_frames=2))
    et = EventTracker(cfg, cam)
    out = []
    for k, t in enumerate(_times(0.0, 3.0)):
        box = person_at(40 + 30 * t)
        img = draw([("a", box, "red")])
        dets = [Detection(*box, "person", 0.9)]
        if k % 4 == 0:                # a second, offset box for the same person, every 4th frame
            dets.append(Detection(box[0] + 6, box[1] + 4, box[2] + 6, box[3] + 4, "person", 0.8))
        out += et.update(Frame("cam", k, t, img), GateResult(True, dets))
    out += et.flush(10.0)
    ids = events(out)
    merged = [u for u in out if u.stage == "end" and u.event.merged_into]
    assert len(ids) - len(merged) == 1


def test_escalations_say_why_on_the_wire():
    door = {"name": "door", "polygon": [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]}
    rules = [RuleConfig(name="object", kind="object", severity=0.3),
             RuleConfig(name="at-door", kind="zone", zone="door", severity=0.6),
             RuleConfig(name="loiter", kind="dwell", zone="door", dwell_s=1.0, severity=0.9)]
    script = compose(walk("a", "red", 100, 80, 0.0, 2.0), [(t, ("a", person_at(260), "red")) for t in _times(2.2, 5.0)])
    out, _ = run("object", script, rules=rules, zones=[door])
    ups = [u for u in out if u.stage == "update"]
    reasons = [u.event.escalation for u in ups if u.event.escalation]
    assert reasons[:2] == ["zone", "dwell"]
    hints = vigil_pb2.SemanticHints(**semantic_hints(ups[0].event))
    assert hints.escalation == "zone" and hints.event_stage == "update"
    assert all(not u.event.escalation for u in out if u.stage in ("new", "end"))


def test_a_person_standing_still_where_the_gate_sees_no_motion_stays_one_event():
    """The gate runs no detector where nothing moves: a person who stops for 6 s (max_age_s is 1 s)
    gets no detections, but no motion touches them either; their event stays open, and they walk on
    in the same event. Motion elsewhere in the picture does not change that."""
    cam = CameraConfig(id="cam", name="Street", url="")
    et = EventTracker(EventsConfig(tracker=TrackerConfig(kind="object", min_hits=2, max_age_s=1.0)), cam)
    out = []
    for k, t in enumerate(_times(0.0, 10.0)):
        x = 40 + 40 * min(t, 2.0) + 40 * max(0.0, t - 8.0)          # walks, stops 2 s..8 s, walks on
        box = person_at(x)
        img = draw([("a", box, "red")])
        if 2.0 < t <= 8.0:       # standing: the gate saw motion only far away (a tree), no detector run there
            r = GateResult(False, [], motion_regions=[(400, 0, 470, 40)], reason="no-motion")
        else:
            r = GateResult(True, [Detection(*box, "person", 0.9)], motion_regions=[box], reason="detected",
                           detector_ran=True)
        out += et.update(Frame("cam", k, t, img), r)
    assert len(events(out)) == 1 and not [u for u in out if u.stage == "end"]
    (end,) = et.flush(11.0)
    assert end.event.duration == pytest.approx(10.0 - end.event.onset)


def test_a_walker_who_vanishes_where_motion_continues_ends_as_usual():
    """The detector loses a person who keeps walking (motion follows them): no hold, the event ends."""
    cam = CameraConfig(id="cam", name="Street", url="")
    et = EventTracker(EventsConfig(tracker=TrackerConfig(kind="object", min_hits=2, max_age_s=1.0)), cam)
    out = []
    for k, t in enumerate(_times(0.0, 6.0)):     # lost mid-picture: it may be hidden, so up to occlusion_max_age_s
        box = person_at(20 + 30 * t)
        img = draw([("a", box, "red")])
        dets = [Detection(*box, "person", 0.9)] if t <= 1.0 else []
        out += et.update(Frame("cam", k, t, img), GateResult(bool(dets), dets, motion_regions=[box],
                                                             reason="detected" if dets else "nothing-detected",
                                                             detector_ran=True))
    assert [u.stage for u in out][-1] == "end"


def test_someone_entering_where_a_lost_object_was_heading_is_a_new_event():
    """Red is missed for 0.6 s; blue appears exactly where red was predicted to be: blue is someone else
    (the appearance veto after a miss), so blue gets its own event and red's ends."""
    red = walk("red", "red", 40, 60, 0.0, 1.6)
    blue = walk("blue", "blue", 40 + 60 * 2.2, 60, 2.2, 4.0)
    script = compose(red, blue)
    out, _ = run("object", script)
    assert len(events(out)) == 2


def test_an_object_leaving_at_the_edge_is_not_continued_by_one_entering_there():
    """Red walks out at the right edge; 0.6 s later green walks in at the same edge."""
    red = walk("red", "red", 380, 80, 0.0, 1.4)                 # leaves the 480 px picture at ~t=1.25
    green = walk("green", "green", 470, -80, 2.0, 4.0)
    out, _ = run("object", compose(red, green))
    assert len(events(out)) == 2


def _clipped(track):
    """A walk as a detector reports it at the picture's edge: boxes cut to the picture, none once out."""
    out = []
    for t, (name, (x1, y1, x2, y2), colour) in track:
        x1, x2 = max(0.0, x1), min(float(W), x2)
        if x2 - x1 >= 12:
            out.append((t, (name, (x1, y1, x2, y2), colour)))
    return out


@pytest.mark.parametrize("kind,expected", [("object", 2), ("iou", 1)])
def test_one_walking_out_at_the_edge_while_another_walks_in_there_are_two_events(kind, expected):
    """Red walks out at the right edge; on the next frame blue walks in at the same place (red, half out, is
    not detected any more). Blue's box overlaps red's predicted box, so frame-to-frame overlap alone continues
    red's track onto blue: one event for two people. Red is leaving there and blue looks nothing like it:
    red's track ends and blue opens its own event."""
    red = _clipped(walk("red", "red", 370, 40, 0.0, 2.0))        # last seen at 450..480, walking out
    blue = _clipped(walk("blue", "blue", 448, -40, 2.2, 6.0))    # walks in there 0.2 s later
    out, _ = run(kind, compose(red, blue))
    assert len(events(out)) == expected
    if kind == "object":
        for eid, xs in TRACE["boxes"].items():                   # each event moves one way only: no swap
            steps = np.diff([x for _, x in xs])
            assert (steps > 0).all() or (steps < 0).all(), (eid, xs)


def test_a_slow_change_of_light_on_a_walker_at_the_edge_keeps_one_event():
    """A person walking out at the edge while the light dims (their colour shifts a little every frame) is one
    event: only an abrupt change of appearance ends a track."""
    script = [(t, [obj], {}) for t, obj in _clipped(walk("a", "red", 200, 80, 0.0, 3.6))]
    cam = CameraConfig(id="cam", name="Street", url="")
    et = EventTracker(EventsConfig(tracker=TrackerConfig(kind="object", min_hits=2, max_age_s=1.0)), cam)
    out = []
    for k, (t, objs, _) in enumerate(script):
        img = WALL.copy()
        for _, (x1, y1, x2, y2), _ in objs:
            shade = 1.0 - 0.04 * k                                  # the light dims 4% a frame
            img[int(y1):int(y2), int(x1):int(x2)] = (np.array(COLOURS["red"]) * shade).astype(np.uint8)
        dets = [Detection(*b, "person", 0.9) for _, b, _ in objs]
        out += et.update(Frame("cam", k, t, img), GateResult(bool(dets), dets))
    out += et.flush(script[-1][0] + 5.0)
    assert len(events(out)) == 1


def _gate(dets, motion, ran=True):
    """A gate result as the real gate says it: motion regions, and whether the detector ran."""
    return GateResult(bool(dets), dets, motion_regions=motion, reason="detected" if ran else "coasted",
                      detector_ran=ran)


def test_the_gates_remembered_box_never_opens_a_second_event():
    """The gate repeats the box it last detected while motion is on it (detector_ran False). Red walked
    on unseen: the copy no longer looks like red, so it cannot continue red's track, and it must not start
    one either (it opened a second event for one person on the synthetic street)."""
    cam = CameraConfig(id="cam", name="Street", url="")
    et = EventTracker(EventsConfig(tracker=TrackerConfig(kind="object", min_hits=2, max_age_s=1.0)), cam)
    out, last = [], None
    for k, t in enumerate(_times(0.0, 4.0)):
        box = person_at(40 + 50 * t)
        img = draw([("a", box, "red")])
        if t <= 1.0:
            last = box
            r = _gate([Detection(*box, "person", 0.9)], [box])
        else:                       # the copy of the last box, and motion both there and on red
            r = _gate([Detection(*last, "person", 0.9)], [box, last], ran=False)
        out += et.update(Frame("cam", k, t, img), r)
    out += et.flush(10.0)
    assert len(events(out)) == 1


def test_an_object_found_again_under_a_new_track_keeps_its_event():
    """Red is missed for 0.6 s, then detected only by its upper part (a box a quarter of its size: too
    unlike its track's box to continue it frame to frame). The track started on that box is red's lost
    track found again (near its predicted place, same look): it is adopted, not confirmed as a new object."""
    cam = CameraConfig(id="cam", name="Street", url="")
    et = EventTracker(EventsConfig(tracker=TrackerConfig(kind="object", min_hits=2, max_age_s=1.0)), cam)
    out = []
    for k, t in enumerate(_times(0.0, 5.0)):
        box = person_at(60 + 40 * t)
        img = draw([("a", box, "red")])
        if t < 2.0:
            dets = [Detection(*box, "person", 0.9)]
        elif t < 2.6:
            dets = []
        else:
            dets = [Detection(box[0], box[1], box[2], box[1] + (box[3] - box[1]) / 4, "person", 0.9)]
        out += et.update(Frame("cam", k, t, img), GateResult(bool(dets), dets))
        assert not et.tracker.merged or et.tracker.merged[0][1] == 1
    out += et.flush(10.0)
    assert len(events(out)) == 1


def test_a_person_who_walked_off_unseen_is_not_held_as_standing_still():
    """Red stops (held: no motion), then walks off while the detector misses it: motion on its box with no
    detection means it left, so it is no longer held and its event ends; blue, who later stands at that
    place, is another event."""
    cam = CameraConfig(id="cam", name="Street", url="")
    et = EventTracker(EventsConfig(tracker=TrackerConfig(kind="object", min_hits=2, max_age_s=1.0)), cam)
    out = []
    for k, t in enumerate(_times(0.0, 16.0)):
        if t <= 1.0:
            objs, r_box = [("a", person_at(100), "red")], person_at(100)
            r = _gate([Detection(*r_box, "person", 0.9)], [r_box])
        elif t <= 3.0:                                   # standing: nothing moves, no detector run
            objs, r = [("a", person_at(100), "red")], _gate([], [], ran=False)
        elif t <= 4.0:                                   # walks off to the left; motion, the detector misses it
            box = person_at(100 - 80 * (t - 3.0))
            objs, r = [("a", box, "red")], _gate([], [box, person_at(100)])
        elif t < 12.0:                                   # gone: nothing moves
            objs, r = [], _gate([], [], ran=False)
        else:                                            # blue walks in where red stood
            box = person_at(100 + 5 * (t - 12.0))
            objs, r = [("b", box, "blue")], _gate([Detection(*box, "person", 0.9)], [box])
        out += et.update(Frame("cam", k, t, draw(objs)), r)
    ends = [u for u in out if u.stage == "end"]
    assert len(ends) == 1 and ends[0].frame is not None and ends[0].event.ended_at == pytest.approx(3.0)
    assert len(events(out)) == 2
