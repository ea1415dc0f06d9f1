"""Scoring an event log against identity labels: one event per object? every object found?

Pure functions over plain data (labels as written by benchmarks/scenes/continuous.py or by
hand in benchmarks/labels/, see its README), tested without video.

- Objects: an identity's *visits*. Its visible frames are split wherever it is out of view
  for more than ``VISIT_GAP_S`` (it left; coming back later is a new visit, and so by the
  definition of docs/events.md a new event). A visit shorter than ``MIN_VISIT_S`` of visible
  time is not counted (no detector should be held to a glimpse).
- An event belongs to the visit whose boxes its own boxes match on the most processed frames;
  an event matching none is a false event. Boxes match when their IoU is at least ``MATCH_IOU``
  or one lies mostly inside the other (``MATCH_INSIDE`` of the smaller box) and they are of
  like size (``MAX_AREA_RATIO``): HOG's boxes carry a margin (its 64x128 window is about twice
  a person's visible width), so a detection around a labelled person has a low IoU with it.
- ``object_recall`` = visits with at least one event / visits.
- ``events_per_object`` = events that belong to a visit / visits with at least one event
  (1.0 = one event per object found; 2.0 = each found object was split in two on average).
"""
from __future__ import annotations

from collections import defaultdict

VISIT_GAP_S = 4.0      # out of view longer than this: the object left (the edge's max_age_s is 2 s)
MIN_VISIT_S = 0.5      # visible time a visit needs to count as an object to find (a shot of the montage lasts ~0.6 s)
MATCH_IOU = 0.3        # loose on purpose: hand boxes are approximate, detector boxes jitter
MATCH_INSIDE = 0.7     # share of the smaller box inside the larger one
MAX_AREA_RATIO = 6.0   # ... when the larger is at most this many times the smaller


def match_quality(a, b) -> float:
    """0 when the boxes do not match, else their IoU (higher = better match)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    if inter <= 0:
        return 0.0
    aa, ab = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    iou = inter / (aa + ab - inter)
    small, large = min(aa, ab), max(aa, ab)
    if iou >= MATCH_IOU or (small > 0 and inter / small >= MATCH_INSIDE and large / small <= MAX_AREA_RATIO):
        return max(iou, 1e-6)
    return 0.0


def expand(obj: dict) -> dict[int, tuple[list[float], bool]]:
    """frame -> (box, visible) of one labelled object; hand labels give key frames, filled in linearly
    between consecutive visible rows at most ``obj['keyframe_step']`` frames apart (default: none)."""
    rows = sorted(obj["frames"], key=lambda r: r[0])
    step = int(obj.get("keyframe_step", 1))
    out: dict[int, tuple[list[float], bool]] = {}
    for r, nxt in zip(rows, rows[1:] + [None]):
        f, box, vis = int(r[0]), [float(v) for v in r[1:5]], bool(r[6])
        out[f] = (box, vis)
        if nxt is not None and vis and bool(nxt[6]) and 1 < nxt[0] - f <= step:
            for g in range(f + 1, int(nxt[0])):
                a = (g - f) / (nxt[0] - f)
                out[g] = ([b0 + a * (b1 - b0) for b0, b1 in zip(box, nxt[1:5])], True)
    return out


def visits(labels: dict, classes: set[str] | None = None) -> list[dict]:
    """The objects to find: [{id, label, start, end (frames), boxes: {frame: box}}]."""
    fps = float(labels["fps"])
    out = []
    for obj in labels["objects"]:
        if classes is not None and obj["label"] not in classes:
            continue
        seen = sorted((f, box) for f, (box, vis) in expand(obj).items() if vis)
        runs: list[list[tuple[int, list[float]]]] = []
        for f, box in seen:
            if runs and (f - runs[-1][-1][0]) / fps <= VISIT_GAP_S:
                runs[-1].append((f, box))
            else:
                runs.append([(f, box)])
        for k, run in enumerate(runs):
            if len(run) / fps < MIN_VISIT_S:
                continue
            out.append({"id": f"{obj['id']}/{k + 1}", "label": obj["label"], "start": run[0][0], "end": run[-1][0],
                        "boxes": dict(run)})
    return out


def score(labels: dict, events: list[dict], classes: set[str] | None = None) -> dict:
    """events: [{"event_id", "boxes": {frame: [x1, y1, x2, y2]}}] (the frames the edge processed)."""
    objs = visits(labels, classes)
    owner: dict[str, str | None] = {}
    for ev in events:
        votes: dict[str, int] = defaultdict(int)
        for f, box in ev["boxes"].items():
            best, best_q = None, 0.0
            for o in objs:
                ob = o["boxes"].get(int(f))
                if ob is not None and (q := match_quality(box, ob)) > best_q:
                    best, best_q = o["id"], q
            if best is not None:
                votes[best] += 1
        owner[ev["event_id"]] = max(votes, key=votes.get) if votes else None
    per_object: dict[str, int] = defaultdict(int)
    for oid in owner.values():
        if oid is not None:
            per_object[oid] += 1
    found = len(per_object)
    matched = sum(per_object.values())
    return {
        "objects": len(objs), "objects_found": found, "events": len(events), "events_matched": matched,
        "false_events": len(events) - matched,
        "object_recall": round(found / len(objs), 4) if objs else None,
        "events_per_object": round(matched / found, 4) if found else None,
        "events_per_found_object": {o["id"]: per_object.get(o["id"], 0) for o in objs},
    }
