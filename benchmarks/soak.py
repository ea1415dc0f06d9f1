"""Soak: real vigil-edge and vigil-cloud processes, the real engine, K cameras looping real clips in real time.

    PYTHONPATH=. python -m benchmarks.soak --minutes 10 --cameras 1 --capacity 2,3 --capacity-minutes 4

Per arm (the demo's model ``smollm_llava``, and ``vigil-bench-vlm``) and per camera count it starts a
signed-webhook receiver (testkit/load_receiver.py), ``python -m cloud.cli`` with the engine settings
the demo ships (vigil_tools/demo.py ``DEMO_ENGINE``, frozen before this run) and ``python -m edge.cli``
with K cameras reading clips with ``loop: true, realtime: true``. After ``--minutes`` the edge is
stopped (SIGTERM), the open alerts are given their deadline to finish, then the cloud is stopped.

Reported per camera (benchmarks/soak_scoring.py): events, events_per_object and object_recall against
the clip's identity labels, described_in_time, p50/p95 time to description, alerts lost end to end;
per process: RSS slope; per run: ERROR lines, overload WARNING lines, the describe queue's counters,
what one description cost (visual tokens, prompt, answer length, prefill and decode ms, from the
cloud's one line per description), and the machine's load (it is shared: read the numbers with it).
Then a capacity search: the most cameras for which described_in_time >= 0.95 on every camera (shorter
runs per K, ``--capacity-minutes``; the JSON says so).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import yaml

from benchmarks.provenance import Provenance
from benchmarks.soak_scoring import alerts_by_id, camera_report, identity_report, percentile, rss_slope_mb_per_h
from vigil_tools.demo import DEMO_ENGINE

# What the receiver records of each webhook body: what the soak scores (stage, status and timeout reason, the
# event, its boxes, when it was emitted).
RECEIVED_FIELDS = ("alert_id", "stage", "camera_id", "event_id", "event_onset", "description_status",
                   "timeout_reason", "description_error", "emitted_at", "severity", "detections", "labels")

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks/results/soak.json"
ARMS = ("smollm_llava", "vigil-bench-vlm")
DEADLINE_S = 30.0                 # the cloud's default describe deadline (alerts.describe_deadline_s)
TARGET = 0.95                     # described_in_time every camera must reach (issue goal)
CAMERA_FPS = 5                    # the shipped edge config's camera fps
OBJECTS = ("person",)             # what the cameras look for (the shipped default); identities are scored for these
RSS_EVERY_S = 10.0
MODEL_LOAD_TIMEOUT_S = 600.0
DRAIN_SLACK_S = 20.0              # after the last deadline: deliveries and the cloud's own expiry tick
SECRET = "soak-" + secrets.token_hex(8)
DESCRIBED = re.compile(r"described alert \S+: (\d+) of (\d+) visual tokens, (\d+) prompt tokens, (\d+) generated; "
                       r"queue (\d+) ms, prefill (\d+) ms, decode (\d+) ms")
OPENED = re.compile(r"camera '([^']+)' \(.*\) opened \(([\d.]+) fps\)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    e.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
             YOLO_CONFIG_DIR=os.environ.get("YOLO_CONFIG_DIR", str(ROOT / ".cache/ultralytics")))
    if os.environ.get("VIGIL_CACHE_DIR"):
        e["VIGIL_CACHE_DIR"] = os.environ["VIGIL_CACHE_DIR"]
    return e


# -- clips and their identity labels --------------------------------------------------------------------
def default_clips(workdir: Path) -> list[tuple[Path, Path | None]]:
    """The continuous synthetic street (exact identities) when its generator is here, else the sample clip."""
    try:
        from benchmarks.scenes import continuous
    except ImportError:
        from vigil.footage import clip_path
        bikes = clip_path("bikes.mp4")
        labels = ROOT / "benchmarks/labels/lifecycle/bikes.json"
        return [(bikes, labels if labels.exists() else None)]
    out = workdir / "clips"
    video, labels = out / "street_dev.mp4", out / "street_dev.json"
    if not (video.exists() and labels.exists()):
        video, labels = continuous.render_clip(continuous.SCRIPTS["street_dev"], out)
    return [(video, labels)]


def clip_facts(path: Path) -> tuple[float, int]:
    cap = cv2.VideoCapture(str(path))
    fps, n = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return float(fps), n


def load_scorer():
    """benchmarks/event_scoring.py's ``score`` (the identity scorer), or None while it is not here."""
    try:
        from benchmarks.event_scoring import score
    except ImportError:
        return None
    return score


# -- processes ------------------------------------------------------------------------------------------
class Proc:
    def __init__(self, name: str, args: list[str], workdir: Path):
        self.name, self.log_path = name, workdir / f"{name}.log"
        self.proc = subprocess.Popen([sys.executable, *args], cwd=workdir, env=env(),
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)

    def wait_for(self, text: str, timeout_s: float) -> None:
        end = time.time() + timeout_s
        while time.time() < end:
            if text in self.log_path.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: no {text!r} within {timeout_s:.0f}s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def term(self, timeout_s: float = 90.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def records(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


def cloud_config(model: str, port: int, api_port: int, rx_port: int) -> dict:
    return {"demo": True, "log_format": "json",
            "server": {"host": "127.0.0.1", "port": port},
            "alerts": {"webhooks": [{"url": f"http://127.0.0.1:{rx_port}/alerts", "secret": SECRET, "name": "rx"}],
                       "describe_deadline_s": DEADLINE_S, "outbox_path": "outbox.db"},
            "api": {"host": "127.0.0.1", "port": api_port}, "store": {"path": "events.db"},
            "engine": {"model": model, **DEMO_ENGINE}}


def edge_config(cameras: list[dict], port: int, metrics_port: int) -> dict:
    return {"demo": True, "log_format": "json", "status_interval_s": 60,
            "cameras": cameras, "cloud": {"target": f"127.0.0.1:{port}", "edge_id": "demo-edge",
                                          "token": "vigil-demo-token"},
            "metrics": {"host": "127.0.0.1", "port": metrics_port}}


def scrape(url: str) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


def receiver_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def open_alerts(path: Path) -> int:
    alerts, _ = alerts_by_id(receiver_records(path))
    return sum(1 for st in alerts.values() if "detected" in st and "described" not in st)


# -- one run --------------------------------------------------------------------------------------------
def run_once(model: str, clips: list[tuple[Path, Path | None]], n_cameras: int, minutes: float,
             workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    port, api_port, rx_port, metrics_port = free_port(), free_port(), free_port(), free_port()
    (workdir / "cloud.yaml").write_text(yaml.safe_dump(cloud_config(model, port, api_port, rx_port)))
    cams = []
    for i in range(n_cameras):
        clip, _ = clips[i % len(clips)]
        cams.append({"id": f"cam-{i + 1}", "name": f"soak {i + 1}: {clip.name}", "url": str(clip),
                     "fps": CAMERA_FPS, "loop": True, "realtime": True, "objects": list(OBJECTS)})
    (workdir / "edge.yaml").write_text(yaml.safe_dump(edge_config(cams, port, metrics_port)))
    rx_out = workdir / "received.jsonl"
    rx = Proc("receiver", ["-m", "testkit.load_receiver", "--port", str(rx_port), "--secret", SECRET,
                           "--out", str(rx_out), "--keep", ",".join(RECEIVED_FIELDS)], workdir)
    cloud = Proc("cloud", ["-m", "cloud.cli", "--config", "cloud.yaml"], workdir)
    edge = None
    rss: dict[str, list[tuple[float, float]]] = {"cloud": [], "edge": []}
    load: list[list[float]] = []
    try:
        t_load = time.time()
        cloud.wait_for("model loaded", MODEL_LOAD_TIMEOUT_S)
        model_load_s = time.time() - t_load
        edge = Proc("edge", ["-m", "edge.cli", "--config", "edge.yaml"], workdir)
        t_start = time.time()
        end = t_start + minutes * 60
        while time.time() < end:
            now = time.time()
            for name, p in (("cloud", cloud), ("edge", edge)):
                mb = p.rss_mb()
                if mb is not None:
                    rss[name].append((now, mb))
            load.append([round(x, 2) for x in os.getloadavg()])
            if edge.proc.poll() is not None or cloud.proc.poll() is not None:
                raise RuntimeError(f"a process exited during the soak:\nedge: {edge.tail()}\ncloud: {cloud.tail()}")
            time.sleep(min(RSS_EVERY_S, max(0.0, end - time.time())))
        edge_metrics = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        t_stop = time.time()
        edge_rc = edge.term()
        drain_until = time.time() + DEADLINE_S + DRAIN_SLACK_S
        while time.time() < drain_until and open_alerts(rx_out):
            time.sleep(1.0)
        time.sleep(3.0)   # the last deliveries
        cloud_metrics = scrape(f"http://127.0.0.1:{api_port}/metrics")
        cloud_rc = cloud.term()
    finally:
        for p in (edge, cloud, rx):
            if p is not None and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
    return analyse(model, cams, clips, n_cameras, workdir, rx_out, cloud, edge, rss, load, t_start, t_stop,
                   model_load_s, edge_metrics, cloud_metrics, {"edge": edge_rc, "cloud": cloud_rc})


def analyse(model, cams, clips, n_cameras, workdir, rx_out, cloud, edge, rss, load, t_start, t_stop,
            model_load_s, edge_metrics, cloud_metrics, exit_codes) -> dict:
    alerts, tally = alerts_by_id(receiver_records(rx_out))
    cloud_lines, edge_lines = cloud.records(), edge.records()
    cameras = {}
    for i, cam in enumerate(cams):
        rep = camera_report(alerts, cam["id"], DEADLINE_S)
        rep["identities"] = identities(alerts, edge_lines, cam["id"], clips[i % len(clips)], t_stop)
        rep["clip"] = clips[i % len(clips)][0].name
        cameras[cam["id"]] = rep
    costs = [tuple(int(g) for g in m.groups()) for r in cloud_lines
             if (m := DESCRIBED.search(r.get("message", "")))]
    errors = [r["message"][:200] for r in cloud_lines + edge_lines if r.get("level") == "ERROR"]
    overload = [r for r in cloud_lines if r.get("level") == "WARNING" and "no description for alert" in r.get("message", "")]
    committed = {k.split('"')[1]: v for k, v in cloud_metrics.items() if k.startswith("vigil_cloud_alert_stages_total{")}
    received = {"detected": sum("detected" in st for st in alerts.values()),
                "described": sum("described" in st for st in alerts.values())}
    return {
        "model": model, "cameras_n": n_cameras, "run_s": round(t_stop - t_start, 1),
        "model_load_s": round(model_load_s, 1), "cameras": cameras,
        "all_cameras_in_time": min((c["described_in_time"] or 0.0) for c in cameras.values()) if cameras else None,
        "lost_total": sum(c["lost"] for c in cameras.values()) + tally["bad_signatures"]
                      + max(0, int(committed.get("detected", 0)) - received["detected"])
                      + max(0, int(committed.get("described", 0)) - received["described"]),
        "receiver": {**received, **tally}, "cloud_committed": committed,
        "edge_events_counted": edge_metrics.get('vigil_edge_agent_total{kind="events"}'),
        "error_lines": len(errors), "error_examples": errors[:5],
        "overload_warning_lines": len(overload),
        "overload_warnings_with_traceback": sum(1 for r in overload if r.get("exception")),
        "describe_queue": {k.removeprefix("vigil_cloud_describe_"): v for k, v in cloud_metrics.items()
                           if k.startswith("vigil_cloud_describe_")},
        "per_description": cost_summary(costs),
        "rss": {name: rss_slope_mb_per_h(s) for name, s in rss.items()},
        "load_avg_1m": {"median": statistics.median(x[0] for x in load) if load else None,
                        "max": max((x[0] for x in load), default=None)},
        "exit_codes": exit_codes, "workdir": str(workdir.relative_to(ROOT)) if workdir.is_relative_to(ROOT) else str(workdir),
    }


def identities(alerts: dict, edge_lines: list[dict], camera: str, clip: tuple[Path, Path | None],
               t_stop: float) -> dict:
    """The camera's events scored against its clip's identity labels (when scorer and labels are here)."""
    scorer, (video, labels_path) = load_scorer(), clip
    opened = [iso_to_unix(r["time"]) for r in edge_lines
              if (m := OPENED.search(r.get("message", ""))) and m.group(1) == camera]
    if scorer is None or labels_path is None or not opened:
        return {"note": "no identity scorer or labels for this clip in this checkout"}
    fps, frames = clip_facts(video)
    return identity_report(scorer, json.loads(labels_path.read_text()), alerts, camera, opened[0], fps,
                           t_stop - opened[0], frames, set(OBJECTS))


def rescore_identities(run: dict, clips: list[tuple[Path, Path | None]]) -> dict:
    """An earlier run's identities scored again from its workdir (received stages, edge log), as this
    version scores them; the edge's "shutting down" line is when the run stopped."""
    wd = Path(run["workdir"]) if Path(run["workdir"]).is_absolute() else ROOT / run["workdir"]
    if not (wd / "received.jsonl").exists():
        return run
    alerts, _ = alerts_by_id(receiver_records(wd / "received.jsonl"))
    lines = [json.loads(x) for x in (wd / "edge.log").read_text(errors="replace").splitlines() if x.startswith("{")]
    stop = next((iso_to_unix(r["time"]) for r in lines if "shutting down" in r.get("message", "")), None)
    if stop is None:
        return run
    for i, (cam, rep) in enumerate(run["cameras"].items()):
        rep["identities"] = identities(alerts, lines, cam, clips[i % len(clips)], stop)
    return run


def cost_summary(costs: list[tuple[int, ...]]) -> dict:
    if not costs:
        return {"n": 0}
    cols = ("visual_tokens_kept", "visual_tokens_before", "prompt_tokens", "generated_tokens", "queue_ms",
            "prefill_ms", "decode_ms")
    out = {"n": len(costs)}
    for i, c in enumerate(cols):
        xs = [float(row[i]) for row in costs]
        out[c] = {"p50": percentile(xs, 0.5), "p95": percentile(xs, 0.95)}
    return out


def iso_to_unix(s: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(s).timestamp()


# -- the benchmark --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the main run per arm (the goal needs >= 10)")
    ap.add_argument("--cameras", type=int, default=1, help="cameras in the main run")
    ap.add_argument("--arms", default=",".join(ARMS), help="models, comma-separated")
    ap.add_argument("--capacity", default="", help="camera counts of the capacity search, e.g. 2,3 (empty: skip)")
    ap.add_argument("--capacity-minutes", type=float, default=4.0, help="length of each capacity-search run")
    ap.add_argument("--capacity-arm", default=ARMS[0], help="model of the capacity search")
    ap.add_argument("--capacity-from", type=Path, action="append", default=[],
                    help="take capacity-search runs from an earlier soak JSON (repeatable; each keeps its provenance)")
    ap.add_argument("--clip", action="append", default=[], metavar="VIDEO[:LABELS]",
                    help="clip (and its identity labels JSON) the cameras loop; default: the synthetic street")
    ap.add_argument("--workdir", type=Path, default=ROOT / ".cache/soak")
    ap.add_argument("--out", type=Path, default=RESULT)
    a = ap.parse_args(argv)
    prov = Provenance(seeds={"engine": 0})
    a.workdir = a.workdir.resolve()   # processes run inside it: clip paths must not be relative
    stamp = time.strftime("%Y%m%dT%H%M%S")
    clips = ([(Path(c.split(":")[0]), Path(c.split(":")[1]) if ":" in c else None) for c in a.clip]
             or default_clips(a.workdir))
    runs = []
    for arm in [x for x in a.arms.split(",") if x]:
        print(f"soak: {arm}, {a.cameras} camera(s), {a.minutes:g} min", flush=True)
        runs.append(run_once(arm, clips, a.cameras, a.minutes, a.workdir / f"{stamp}-{arm}-k{a.cameras}"))
        print(json.dumps(headline(runs[-1])), flush=True)
    capacity = []
    for k in [int(x) for x in a.capacity.split(",") if x]:
        print(f"soak: capacity search, {a.capacity_arm}, {k} cameras, {a.capacity_minutes:g} min", flush=True)
        capacity.append(run_once(a.capacity_arm, clips, k, a.capacity_minutes,
                                 a.workdir / f"{stamp}-{a.capacity_arm}-k{k}"))
        print(json.dumps(headline(capacity[-1])), flush=True)
    earlier = [(p.name, json.loads(p.read_text())) for p in a.capacity_from]
    capacity = [rescore_identities(r, clips) for _, e in earlier for r in e["capacity_search"]["runs"]] + capacity
    main_arm = {r["model"]: r for r in runs}
    passing = [r["cameras_n"] for r in runs + capacity
               if r["model"] == a.capacity_arm and (r["all_cameras_in_time"] or 0) >= TARGET]
    result = {
        "benchmark": "soak",
        "settings": {"engine": DEMO_ENGINE, "describe_deadline_s": DEADLINE_S, "camera_fps": CAMERA_FPS,
                     "clips": [c.name for c, _ in clips], "minutes": a.minutes, "cameras": a.cameras,
                     "capacity_minutes": a.capacity_minutes,
                     "frozen": "engine settings are vigil_tools/demo.py DEMO_ENGINE, chosen before this run"},
        "goals": {
            "described_in_time_one_camera_default_model": {
                "target": TARGET, "value": (main_arm.get(ARMS[0]) or {}).get("all_cameras_in_time")},
            "lost": {"target": 0, "value": sum(r["lost_total"] for r in runs + capacity)},
            "error_lines": {"target": 0, "value": sum(r["error_lines"] for r in runs + capacity)},
            "overload_warnings_with_traceback": {"target": 0, "value": sum(
                r["overload_warnings_with_traceback"] for r in runs + capacity)},
            "rss_flat": {r["model"]: r["rss"] for r in runs}},
        "runs": runs,
        "capacity_search": {"arm": a.capacity_arm, "minutes_per_k": a.capacity_minutes,
                            "note": "shorter runs than the main one (capacity_minutes); the main run counts as K="
                                    f"{a.cameras}", "runs": capacity,
                            "max_cameras_in_time": max(passing) if passing else 0,
                            "taken_from": [{"file": name, "k": [r["cameras_n"] for r in e["capacity_search"]["runs"]],
                                            "provenance": e["provenance"]} for name, e in earlier]},
        "provenance": {**prov.finish(), "repeats_not_applicable": (
            "one run per arm of --minutes (each scores every event one by one); the capacity search adds shorter "
            "runs per camera count")},
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"soak: wrote {a.out}", flush=True)
    return 0


def headline(r: dict) -> dict:
    return {"model": r["model"], "cameras": r["cameras_n"], "run_s": r["run_s"],
            "in_time": {c: v["described_in_time"] for c, v in r["cameras"].items()},
            "events": {c: v["events"] for c, v in r["cameras"].items()}, "lost": r["lost_total"],
            "errors": r["error_lines"], "per_description": r["per_description"]}


if __name__ == "__main__":
    sys.exit(main())
