"""One event per object? The edge's gate + tracker + lifecycle against identity labels (no cloud).

Each clip is read at 5 fps through the real ``FrameSource`` and the real ``GateCascade`` (HOG:
the detector this machine has; see edge/gate/factory.py); every gate result feeds two
``EventTracker``s in lockstep, so both arms see exactly the same detections:
- ``before``: ``tracker.kind: iou``, the plain IoU tracker main shipped (edge/events/iou_tracker.py);
- ``after``: ``tracker.kind: object``, motion + appearance re-association within ``max_age_s``,
  scene-cut hold and duplicate merge (edge/events/object_tracker.py).
For each event we record the box of its track on every processed frame where the track had a
detection, and score the log with benchmarks/event_scoring.py: ``events_per_object`` and
``object_recall`` per clip (definitions there), against
- the continuous synthetic scene (benchmarks/scenes/continuous.py; exact identities): the
  development scripts (``DEV_CLIPS``) and the held-out ones (``HELD_OUT``), written before any
  setting of their round was tuned and measured once the settings were frozen (``HEADLINE_CLIPS``,
  pooled, are the headline);
- hand labels of the sample clips (benchmarks/labels/lifecycle/*.json; how: the README there).
The camera's objects are the default (``person``); labelled cars are not scored.

HOG finds the synthetic figures only part of the time (its recall caps object_recall whatever the
tracker does), so the synthetic clips are also run with ``detector: simulated``: a detector made
from the exact labels with what a real one does wrong (``SimulatedDetector``: misses frames at
random, and more when the object is partly hidden; jitters and grows boxes; scores vary; one-frame
false hits). That arm measures the lifecycle itself; the ``hog`` arm the whole edge as it runs here.

Decisions are deterministic (no randomness after rendering; the scene seeds are in the scripts),
so quality is measured once; the lifecycle's own cost per frame is reported per arm from the same
interleaved pass. Goals: events_per_object <= 1.2 with object_recall >= 0.95.

    python -m benchmarks.lifecycle            # all clips (~2-4 minutes on 2 busy cores)
    python -m benchmarks.lifecycle --clips street_dev
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from benchmarks.event_scoring import score
from benchmarks.provenance import Provenance
from benchmarks.scenes import continuous
from edge.events import EventsConfig, EventTracker
from edge.events.config import TrackerConfig
from edge.gate import GateCascade, GateConfig
from edge.sources import CameraConfig, open_source
from vigil.footage import clip_path

LABELS = Path(__file__).resolve().parent / "labels" / "lifecycle"
OUT = Path(__file__).resolve().parent / "results" / "lifecycle.json"
PROCESS_FPS = 5.0
GOALS = {"events_per_object": 1.2, "object_recall": 0.95}
HELD_OUT = ("street_heldout2", "street_heldout7", "street_heldout8")
# The headline pools the held-out clips of the current round: street_heldout7/8 were written and committed
# before the fourth round tuned anything and were measured once after its settings were frozen.
# street_heldout2 (the first round's held-out clip) stays held out (its per-object results were not used to
# tune later rounds) but its aggregate had been published, so it is reported, not pooled. street_heldout3/4
# were the second round's held-out clips, street_heldout5/6 the third's (their results: ``previous_round``);
# both pairs were looked at after, so they are development clips now.
HEADLINE_CLIPS = ("street_heldout7", "street_heldout8")
DEV_CLIPS = ("street_dev", "street_dev2", "street_heldout", "street_heldout3", "street_heldout4", "street_heldout5",
             "street_heldout6", "bikes.mp4", "carphone_pristine.mp4")
# street_heldout was held out for the first frozen settings (commit 0bacea9: see `first_frozen_run` in the
# JSON); its result was then looked at to find what failed, so it is a development clip now.
CLIPS = ("street_dev", "street_dev2", "bikes.mp4", "carphone_pristine.mp4", "street_heldout", "street_heldout2",
         "street_heldout3", "street_heldout4", "street_heldout5", "street_heldout6", "street_heldout7",
         "street_heldout8")
FIRST_FROZEN_RUN = {
    "commit": "0bacea9", "note": "settings frozen, street_heldout measured once; the object tracker lost recall "
    "there (identities passed between people at the frame edges and after misses; the gate's remembered boxes "
    "read as a standing object); fixed after (appearance veto after a miss, frame-edge rule, stillness from the "
    "gate's motion, remembered boxes not used for velocity) and checked on street_heldout2, written before those fixes",
    "street_heldout": {"hog": {"before": {"events_per_object": 1.7143, "object_recall": 1.0},
                               "after": {"events_per_object": 1.25, "object_recall": 0.5714}},
                       "simulated": {"before": {"events_per_object": 1.7143, "object_recall": 1.0},
                                     "after": {"events_per_object": 1.1667, "object_recall": 0.8571}}}}
ARMS = {"before": "iou", "after": "object"}
# The earlier rounds' held-out headlines (each measured once at its frozen settings): round 1 (commit 42e27d2,
# street_heldout2), round 2 (settings frozen at 611fd37, street_heldout3/4 pooled; that run: commit 9f64684) and
# round 3 (settings frozen at b4e3742, street_heldout5/6 pooled; that run: commit 5751030).
PREVIOUS_ROUND = {
    "round1": {"commit": "42e27d2", "clips": ["street_heldout2"],
               "hog": {"events_per_object": 2.0, "object_recall": 1.0},
               "simulated": {"events_per_object": 1.4444, "object_recall": 1.0}},
    "round2": {"settings_frozen_at": "611fd37", "result_commit": "9f64684", "clips": ["street_heldout3", "street_heldout4"],
               "hog": {"events_per_object": 1.2667, "object_recall": 0.9375},
               "simulated": {"events_per_object": 1.125, "object_recall": 1.0},
               "round1_tracker_on_these_clips": {"hog": {"events_per_object": 1.3846, "object_recall": 0.8125},
                                                 "simulated": {"events_per_object": 1.25, "object_recall": 1.0}}},
    "round3": {"settings_frozen_at": "b4e3742", "result_commit": "5751030", "clips": ["street_heldout5", "street_heldout6"],
               "hog": {"events_per_object": 1.1538, "object_recall": 0.8667},
               "simulated": {"events_per_object": 1.0, "object_recall": 0.9333},
               "iou_tracker_on_these_clips": {"hog": {"events_per_object": 2.9091, "object_recall": 0.7333},
                                              "simulated": {"events_per_object": 1.5333, "object_recall": 1.0}}}}
SETTINGS_FROZEN_AT = "e5a7669"
HELD_OUT_COMMITTED_AT = "83ca0e7"    # street_heldout7/8 written and committed before round 4 tuned anything


def scenes_dir() -> Path:
    root = os.environ.get("VIGIL_CACHE_DIR")
    return (Path(root) if root else Path(__file__).resolve().parent.parent / ".cache") / "scenes"


def clip_and_labels(name: str) -> tuple[Path, dict]:
    if name in continuous.SCRIPTS:
        video, labels = continuous.render_clip(continuous.SCRIPTS[name], scenes_dir())
        return video, json.loads(labels.read_text())
    return clip_path(name), json.loads((LABELS / f"{Path(name).stem}.json").read_text())


class SimulatedDetector:
    """Detections made from exact labels, with a real detector's faults (seeded)."""

    MISS = 0.2                 # chance to miss a fully visible object on a frame (flicker)
    GROW = 1.25                # detector boxes are larger than the visible pixels
    JITTER = 0.04              # box jitter, fraction of its size
    FALSE_HIT = 0.03           # chance per frame of a one-frame false box
    HIDDEN_BELOW = 0.6         # visible fraction under which the miss chance rises linearly to 1

    def __init__(self, labels: dict, classes: set[str], seed: int):
        import numpy as np
        from benchmarks.event_scoring import expand
        self.rng = np.random.default_rng(seed)
        self.rows = {}
        for obj in labels["objects"]:
            if obj["label"] not in classes:
                continue
            frac = {int(r[0]): float(r[5]) for r in obj["frames"]}
            for f, (box, vis) in expand(obj).items():
                if vis:
                    self.rows.setdefault(f, []).append((obj["label"], box, frac.get(f, 1.0)))
        self.width, self.height = labels["width"], labels["height"]

    def detect(self, frame_index: int) -> list:
        from edge.detection import Detection
        out = []
        for label, (x1, y1, x2, y2), frac in self.rows.get(frame_index, []):
            miss = self.MISS if frac >= self.HIDDEN_BELOW else 1.0 - (1.0 - self.MISS) * frac / self.HIDDEN_BELOW
            if self.rng.random() < miss:
                continue
            w, h = (x2 - x1) * self.GROW, (y2 - y1) * self.GROW
            cx = (x1 + x2) / 2 + self.rng.normal(0, self.JITTER) * w
            cy = (y1 + y2) / 2 + self.rng.normal(0, self.JITTER) * h
            w, h = w * (1 + self.rng.normal(0, self.JITTER)), h * (1 + self.rng.normal(0, self.JITTER))
            out.append(Detection(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, label, float(self.rng.uniform(0.45, 0.95))))
        if self.rng.random() < self.FALSE_HIT:
            w, h = self.rng.uniform(20, 60), self.rng.uniform(50, 140)
            x, y = self.rng.uniform(0, self.width - w), self.rng.uniform(0, self.height - h)
            out.append(Detection(x, y, x + w, y + h, "person", float(self.rng.uniform(0.45, 0.9))))
        return out


DETECTOR_SEED = 7


def run_clip(name: str, detector: str = "hog", arms: dict[str, TrackerConfig] | None = None) -> dict:
    from edge.gate.base import GateResult
    video, labels = clip_and_labels(name)
    cam = CameraConfig(id="cam", name=name, url=str(video), fps=PROCESS_FPS)
    gate = GateCascade(GateConfig(detector="hog"), cam) if detector == "hog" else None
    sim = SimulatedDetector(labels, set(cam.objects), DETECTOR_SEED) if detector == "simulated" else None
    arms = arms or {arm: TrackerConfig(kind=kind) for arm, kind in ARMS.items()}
    trackers = {arm: EventTracker(EventsConfig(tracker=tc), cam) for arm, tc in arms.items()}
    logs: dict[str, dict[str, dict]] = {arm: {} for arm in arms}
    cost_ms: dict[str, list[float]] = {arm: [] for arm in arms}
    frames = 0
    last = None
    for frame in open_source(cam):
        if gate is not None:
            result = gate.process(frame)
        else:
            dets = sim.detect(frame.index)
            result = GateResult(bool(dets), dets)
        frames += 1
        last = frame
        for arm, et in trackers.items():
            t0 = time.perf_counter()
            updates = et.update(frame, result)
            cost_ms[arm].append((time.perf_counter() - t0) * 1e3)
            _record(logs[arm], et, updates, frame.index)
    for arm, et in trackers.items():
        _record(logs[arm], et, et.flush(last.capture_time if last else 0.0), last.index if last else 0)
    out = {"clip": name, "detector": detector, "held_out": name in HELD_OUT, "frames_processed": frames, "labels_source": labels.get("source")}
    for arm in arms:
        events = list(logs[arm].values())
        s = score(labels, events, set(cam.objects))
        s["stages"] = {st: sum(e["stages"].count(st) for e in events) for st in ("new", "update", "end")}
        s["merged_events"] = sum(1 for e in events if e["merged_into"])
        s["lifecycle_ms_per_frame_median"] = round(statistics.median(cost_ms[arm]), 3) if cost_ms[arm] else None
        out[arm] = s
    return out


def _record(log: dict, et: EventTracker, updates, frame_index: int) -> None:
    for u in updates:
        rec = log.setdefault(u.event.event_id, {"event_id": u.event.event_id, "boxes": {}, "stages": [], "merged_into": ""})
        rec["stages"].append(u.stage)
        if u.stage == "end":
            rec["merged_into"] = u.event.merged_into
    live = {tr.track_id: tr for tr in et.tracker.tracks}
    for tid, ev in list(et._track_events.items()):
        tr = live.get(tid)
        if tr is not None and tr.detection is not None and ev.event_id in log:
            log[ev.event_id]["boxes"][frame_index] = list(tr.detection.box())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="edge object lifecycle: events per object and object recall")
    ap.add_argument("--clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--sweep-max-age", nargs="*", type=float, default=[],
                    help="post hoc: also run the object tracker with these max_age_s on the synthetic clips "
                         "(reported under post_hoc_sweep; not held-out numbers)")
    a = ap.parse_args(argv)
    prov = Provenance(seeds={s: continuous.SCRIPTS[s].seed for s in continuous.SCRIPTS})
    clips = []
    for c in a.clips:
        for det in (("hog", "simulated") if c in continuous.SCRIPTS else ("hog",)):
            clips.append(run_clip(c, det))
    for c in clips:
        for arm in ARMS:
            r = c[arm]
            r["goals_met"] = (r["events_per_object"] is not None and r["events_per_object"] <= GOALS["events_per_object"]
                              and r["object_recall"] is not None and r["object_recall"] >= GOALS["object_recall"])
        print(f"{c['clip']:22s} {c['detector']:9s} " + "  ".join(
            f"{arm}: events/object {c[arm]['events_per_object']} recall {c[arm]['object_recall']} "
            f"(objects {c[arm]['objects']}, events {c[arm]['events']}, false {c[arm]['false_events']})" for arm in ARMS))
    sweep = []
    if a.sweep_max_age:
        arms = {f"max_age_s={m:g}": TrackerConfig(kind="object", max_age_s=m) for m in a.sweep_max_age}
        for c in a.clips:
            if c in continuous.SCRIPTS:
                for det in ("hog", "simulated"):
                    r = run_clip(c, det, arms)
                    sweep.append({"clip": c, "detector": det, **{k: {m: r[k][m] for m in ("events_per_object", "object_recall")}
                                                                 for k in arms}})
                    print(f"sweep {c:18s} {det:9s} " + "  ".join(
                        f"{k}: {r[k]['events_per_object']}/{r[k]['object_recall']}" for k in arms))
    headlines = {}
    for d in ("hog", "simulated"):
        pool = [c for c in clips if c["clip"] in HEADLINE_CLIPS and c["detector"] == d]
        if not pool:
            continue
        names = sorted({c["clip"] for c in pool})
        epo, rec = {}, {}
        for arm in ARMS:
            found = sum(c[arm]["objects_found"] for c in pool)
            objs = sum(c[arm]["objects"] for c in pool)
            epo[arm] = round(sum(c[arm]["events_matched"] for c in pool) / found, 4) if found else None
            rec[arm] = round(found / objs, 4) if objs else None
        headlines[f"held_out_events_per_object_{d}"] = {
            "value": epo["after"], "before": epo["before"], "goal": f"<= {GOALS['events_per_object']}",
            "clips": names, "pooled": "matched events / found objects over the clips"}
        headlines[f"held_out_object_recall_{d}"] = {
            "value": rec["after"], "before": rec["before"], "goal": f">= {GOALS['object_recall']}",
            "clips": names, "pooled": "found objects / objects over the clips"}
    result = {
        "benchmark": "lifecycle",
        **headlines, "headline_keys": list(headlines),
        "goals": GOALS, "arms": ARMS, "process_fps": PROCESS_FPS,
        "detectors": {"hog": "GateCascade(detector=hog)", "simulated": {
            k: getattr(SimulatedDetector, k) for k in ("MISS", "GROW", "JITTER", "FALSE_HIT", "HIDDEN_BELOW")}
            | {"seed": DETECTOR_SEED}},
        "settings": {"events": EventsConfig().model_dump(), "gate": GateConfig(detector="hog").model_dump()},
        "settings_frozen_before_held_out": True,
        "settings_frozen_at": SETTINGS_FROZEN_AT,
        "held_out_clips_committed_at": HELD_OUT_COMMITTED_AT,
        "development_clips": list(DEV_CLIPS),
        "held_out_clips": list(HELD_OUT),
        "headline_clips": list(HEADLINE_CLIPS),
        "previous_round": PREVIOUS_ROUND,
        "first_frozen_run": FIRST_FROZEN_RUN,
        **({"post_hoc_sweep": {"note": "run after every clip had been measured at the frozen settings: shows what "
                                       "max_age_s trades, not a held-out result", "runs": sweep}} if sweep else {}),
        "clips": clips,
        "provenance": prov.finish(repeats=1, repeats_note="decisions are deterministic (same frames, same detections "
                                  "for both arms, interleaved per frame); quality measured once"),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
