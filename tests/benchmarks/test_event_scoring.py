"""The lifecycle scorer as data: visits, matching, events per object, recall; and the continuous scene's labels."""
import numpy as np

from benchmarks.event_scoring import MIN_VISIT_S, VISIT_GAP_S, expand, match_quality, score, visits

FPS = 5.0


def obj(ident, rows, label="person", step=1):
    return {"id": ident, "label": label, "keyframe_step": step,
            "frames": [[f, *box, 1.0 if vis else 0.0, int(vis)] for f, box, vis in rows]}


def labels(*objects):
    return {"fps": FPS, "width": 640, "height": 360, "objects": list(objects)}


def walker(ident, f0, f1, x0=0, step=1, vis=lambda f: True):
    return obj(ident, [(f, [x0 + 5 * f, 100, x0 + 5 * f + 30, 190], vis(f)) for f in range(f0, f1 + 1, step)], step=step)


def event(eid, boxes):
    return {"event_id": eid, "boxes": boxes}


def test_visits_split_when_out_of_view_longer_than_the_gap():
    gap = int(VISIT_GAP_S * FPS) + 1
    lab = labels(walker("a", 0, 20), walker("b", 0, 40, vis=lambda f: not 10 < f < 10 + gap))
    v = {x["id"]: x for x in visits(lab)}
    assert set(v) == {"a/1", "b/1", "b/2"}
    short = labels(walker("c", 0, int(MIN_VISIT_S * FPS) - 2))      # a glimpse: not an object to find
    assert visits(short) == []
    assert visits(lab, {"car"}) == []


def test_hand_key_frames_are_filled_in_between_visible_rows():
    o = walker("a", 0, 20, step=5)
    filled = expand(o)
    assert sorted(filled) == list(range(21)) and filled[2][0][0] == 10.0      # linear between frames 0 and 5
    o["frames"][2][6] = 0                                                     # frame 10 hidden: no fill around it
    assert 7 not in expand(o) and 12 not in expand(o)


def test_one_event_per_object_and_recall():
    lab = labels(walker("a", 0, 20), walker("b", 0, 20, x0=300))
    a = {f: [5 * f, 100, 5 * f + 30, 190] for f in range(0, 21)}
    b_half1 = {f: [300 + 5 * f, 100, 330 + 5 * f, 190] for f in range(0, 10)}
    b_half2 = {f: [300 + 5 * f, 100, 330 + 5 * f, 190] for f in range(10, 21)}
    r = score(lab, [event("e1", a), event("e2", b_half1), event("e3", b_half2), event("ghost", {3: [600, 0, 640, 40]})])
    assert r["objects"] == 2 and r["object_recall"] == 1.0
    assert r["events_per_object"] == 1.5 and r["false_events"] == 1
    assert score(lab, [event("e1", a)])["object_recall"] == 0.5


def test_an_event_belongs_to_the_object_it_follows_most():
    lab = labels(walker("a", 0, 20), walker("b", 0, 20, x0=300))
    swapped = {f: ([5 * f, 100, 5 * f + 30, 190] if f < 6 else [300 + 5 * f, 100, 330 + 5 * f, 190]) for f in range(21)}
    r = score(lab, [event("e", swapped)])
    assert r["events_per_found_object"] == {"a/1": 0, "b/1": 1}


def test_a_detector_box_with_a_margin_matches_the_person_inside_it():
    person = [100, 100, 126, 190]
    hog = [80, 80, 148, 214]                 # HOG's window around the same person: IoU ~0.26
    assert match_quality(hog, person) > 0
    assert match_quality([0, 0, 640, 360], person) == 0        # a box around everything matches nothing
    assert match_quality([300, 100, 330, 190], person) == 0


def test_the_continuous_scene_labels_hidden_and_moved_objects_exactly():
    from benchmarks.scenes import continuous as c
    a = c.Actor("p", "person", "red", ((0.0, c.PILLAR[0] - 80, 300, 90), (4.0, c.PILLAR[2] + 80, 300, 90)))
    script = c.Script("t", 4.0, 0, (a,), camera_moves=((3.0, 40, 0),))
    rng = np.random.default_rng(0)
    base = c._background(rng)
    seen = {}
    for k in range(int(4.0 * c.FPS)):
        t = k / c.FPS
        img, lab = c.render_frame(script, t, base, rng)
        assert img.shape == (c.HEIGHT, c.WIDTH, 3)
        seen[t] = lab.get("p")
    behind = seen[2.0]                                     # centred on the pillar: mostly hidden
    assert behind is None or behind["visible_fraction"] < c.MIN_VISIBLE
    assert seen[0.0]["visible_fraction"] > 0.9
    # the camera was knocked at t=3: the picture content moved 40 px right of where the path says
    x_path = lambda t: c.PILLAR[0] - 80 + (c.PILLAR[2] - c.PILLAR[0] + 160) * t / 4.0
    centre = (seen[3.4]["box"][0] + seen[3.4]["box"][2]) / 2
    assert abs(centre - (x_path(3.4) + 40)) < 6
