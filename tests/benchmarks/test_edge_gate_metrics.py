"""Event recall of the edge-gate benchmark: an appearance is found by a pass within 1 s of its start."""
from benchmarks.edge_gate import FrameRecord, appearances, event_recall


def _lab(target):
    return {"target": "yes" if target else "no", "person_visible": "yes" if target else "no"}


def test_appearances_are_runs_of_target_frames_and_found_within_one_second():
    labels = {("a.mp4", i): _lab(i in (5, 10, 15, 20, 25, 30, 40, 45)) for i in range(0, 50, 5)}
    labels.update({("b.mp4", i): _lab(True) for i in (0, 5)})
    assert [len(r) for r in appearances(labels)] == [6, 2, 2]
    passed = {("a.mp4", 30), ("a.mp4", 45), ("b.mp4", 0)}     # a: 25 frames (1.0 s) after the start
    recs = [FrameRecord(c, i, (c, i) in passed, False, "", 0, 0, 0, 0) for c, i in labels]
    out = event_recall(recs, labels, "passed", {"a.mp4": 25.0, "b.mp4": 25.0})
    assert out["appearances"] == 3 and out["found"] == 3 and out["event_recall"] == 1.0
    late = [FrameRecord(c, i, (c, i) == ("a.mp4", 35), False, "", 0, 0, 0, 0) for c, i in labels]
    assert event_recall(late, labels, "passed", {"a.mp4": 25.0, "b.mp4": 25.0})["found"] == 0
