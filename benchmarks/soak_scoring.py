"""What the soak reports per camera, from what reached the webhook receiver (pure: plain data in, dicts out).

- ``events``: alerts whose ``detected`` stage arrived (one per event the edge raised and the cloud kept).
- ``described_in_time``: share of those whose ``described`` stage arrived with status ``ok``; the cloud
  sends ``ok`` only before the alert's deadline (a later answer is dropped, the stage already went out
  as ``timeout``), and the arrival is checked against the deadline as well.
- time to description: event onset at the edge -> ``described`` (ok) at the receiver, p50 and p95.
- ``lost``: alerts with a ``detected`` and no ``described`` at the end of the run (after the drain), plus
  stages that arrived without their alert's ``detected``, plus requests whose signature failed.
- identities: each event's first boxes, placed on the clip's timeline (onset -> frame), scored against the
  clip's identity labels repeated once per completed loop, by the scorer given (benchmarks/event_scoring.py).
"""
from __future__ import annotations

import statistics
from typing import Callable

# The receiver's clock and the cloud's are the same machine's; a stage committed just before its deadline
# still needs a delivery hop, which this allows for.
DELIVERY_SLACK_S = 2.0


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 3)


def alerts_by_id(records: list[dict]) -> tuple[dict[str, dict], dict]:
    """{alert_id: {"detected": rec, "described": rec}} from receiver lines (repeats by webhook id dropped),
    and the tally of repeats and failed signatures."""
    seen: set = set()
    out: dict[str, dict] = {}
    repeats = bad = 0
    for r in records:
        if not r.get("ok"):
            bad += 1
            continue
        if r["id"] in seen:
            repeats += 1
            continue
        seen.add(r["id"])
        out.setdefault(r["alert_id"], {})[r["stage"]] = r
    return out, {"repeats": repeats, "bad_signatures": bad}


def camera_report(alerts: dict[str, dict], camera: str, deadline_s: float) -> dict:
    mine = {aid: st for aid, st in alerts.items()
            if (st.get("detected") or st.get("described") or {}).get("camera_id") == camera}
    detected = {aid: st for aid, st in mine.items() if "detected" in st}
    status: dict[str, int] = {}
    reasons: dict[str, int] = {}
    to_desc, cloud_to_desc = [], []
    in_time = lost = orphan = 0
    for aid, st in mine.items():
        d, s = st.get("detected"), st.get("described")
        if d is None:
            orphan += 1
            continue
        if s is None:
            lost += 1
            continue
        status[s["description_status"]] = status.get(s["description_status"], 0) + 1
        if s.get("timeout_reason"):
            reasons[s["timeout_reason"]] = reasons.get(s["timeout_reason"], 0) + 1
        if s["description_status"] == "ok":
            waited = s["emitted_at"] - d["emitted_at"]
            if waited <= deadline_s and s["t"] - d["t"] <= deadline_s + DELIVERY_SLACK_S:
                in_time += 1
            to_desc.append(s["t"] - (d.get("event_onset") or d["t"]))
            cloud_to_desc.append(waited)
    n = len(detected)
    return {"events": n, "described_in_time": round(in_time / n, 4) if n else None,
            "described_ok": status.get("ok", 0), "status": status, "timeout_reasons": reasons,
            "time_to_description_s": {"p50": percentile(to_desc, 0.5), "p95": percentile(to_desc, 0.95),
                                      "from": "event onset at the edge", "to": "described (ok) at the receiver"},
            "cloud_detected_to_described_s": {"p50": percentile(cloud_to_desc, 0.5),
                                              "p95": percentile(cloud_to_desc, 0.95)},
            "lost": lost + orphan, "lost_detail": {"detected_without_described": lost,
                                                  "described_without_detected": orphan}}


def repeated_labels(labels: dict, loops: int, frames_per_loop: int) -> dict:
    """The clip's labels as if the clip were ``loops`` times longer: loop k's objects are new identities
    (a person who walks past again on the next loop is a new visit, as on a real street)."""
    objects = []
    for k in range(loops):
        for obj in labels["objects"]:
            objects.append({**obj, "id": f"{obj['id']}@{k}",
                            "frames": [[r[0] + k * frames_per_loop, *r[1:]] for r in obj["frames"]]})
    return {**labels, "objects": objects}


def events_on_timeline(alerts: dict[str, dict], camera: str, opened_at: float, clip_fps: float,
                       last_frame: int) -> list[dict]:
    """Scorer events ({"event_id", "boxes": {frame: box}}) from each alert's first boxes: an event's
    ``new`` frame is its onset, ``opened_at + frame / clip_fps`` on the looping clip's clock."""
    out = []
    for aid, st in alerts.items():
        d = st.get("detected")
        if d is None or d.get("camera_id") != camera:
            continue
        frame = round((d["event_onset"] - opened_at) * clip_fps)
        if frame < 0 or frame > last_frame:
            continue
        boxes = [det["box"] for det in d.get("detections") or []]
        if boxes:
            out.append({"event_id": d["event_id"], "boxes": {frame: boxes[0]}})
    return out


def identity_report(score: Callable[..., dict], labels: dict, alerts: dict[str, dict], camera: str,
                    opened_at: float, clip_fps: float, run_s: float, frames_per_loop: int,
                    classes: set[str] | None = None) -> dict:
    """events_per_object and object_recall over the loops the run completed, for the ``classes`` the
    camera looks for (a car is no missed object for a camera that watches for people)."""
    loops = int(run_s * clip_fps // frames_per_loop)
    if loops < 1:
        return {"scored_loops": 0, "note": "the run did not complete one pass of the clip"}
    events = events_on_timeline(alerts, camera, opened_at, clip_fps, loops * frames_per_loop - 1)
    result = score(repeated_labels(labels, loops, frames_per_loop), events, classes)
    keep = ("objects", "objects_found", "events", "events_matched", "false_events", "object_recall",
            "events_per_object")
    return {"scored_loops": loops, "classes": sorted(classes) if classes else "all",
            **{k: result.get(k) for k in keep}}


def rss_slope_mb_per_h(samples: list[tuple[float, float]], skip_s: float = 60.0) -> dict:
    """Least-squares slope of RSS (MB) over time, after the first ``skip_s`` (model load, caches warming)."""
    if not samples:
        return {"slope_mb_per_h": None}
    t0 = samples[0][0]
    pts = [(t - t0, mb) for t, mb in samples if t - t0 >= skip_s]
    if len(pts) < 3:
        return {"slope_mb_per_h": None, "samples": len(pts)}
    mt, mm = statistics.fmean(p[0] for p in pts), statistics.fmean(p[1] for p in pts)
    var = sum((p[0] - mt) ** 2 for p in pts)
    slope = sum((p[0] - mt) * (p[1] - mm) for p in pts) / var if var else 0.0
    return {"slope_mb_per_h": round(slope * 3600, 2), "first_mb": round(pts[0][1], 1),
            "last_mb": round(pts[-1][1], 1), "peak_mb": round(max(p[1] for p in pts), 1), "samples": len(pts),
            "after_s": skip_s}
