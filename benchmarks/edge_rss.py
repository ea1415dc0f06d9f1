"""Edge RSS over time: one real ``python -m edge.cli`` looping a clip in real time against a cheap cloud.

The soak (benchmarks/soak.py) saw the edge's RSS climb while the cloud's stayed flat; this isolates the
edge. The cloud runs the stub engine (``stub:0.05``) so the edge, not the model, is what is measured; the
edge config is the soak's (one camera, ``loop: true, realtime: true``, 5 fps, the synthetic street).
RSS is read from /proc every ``--every`` seconds and the slope (MB/h) is a least-squares fit after the
warm-up (benchmarks/soak_scoring.py ``rss_slope_mb_per_h``, the soak's own).

Arms are code trees: ``--arm NAME=PATH`` runs the edge with ``PYTHONPATH=PATH`` (e.g. an export of the
commit before a fix next to this checkout), so before and after run the same clip and config.
Each invocation is one named series (``--name``); ``--append`` keeps the other series in the result.
``--trace N`` also runs the edge under tracemalloc and writes, every N seconds, the allocation sites that
grew most since the first dump after the warm-up (``trace-<arm>.txt`` in the workdir): the debugging aid
that found what grew.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.provenance import Provenance  # noqa: E402
from benchmarks.soak import CAMERA_FPS, OBJECTS, SECRET, edge_config  # noqa: E402
from benchmarks.soak_scoring import rss_slope_mb_per_h  # noqa: E402
from testkit.fault_procs import cloud_config, free_port  # noqa: E402

RESULT = ROOT / "benchmarks/results/edge_rss.json"
READY = "cloud listening on"

# Run inside the edge process with --trace: tracemalloc, and a thread that writes the top growth sites.
TRACE_WRAPPER = r"""
import runpy, sys, threading, time, tracemalloc
every, warm, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sys.argv = ["edge.cli", *sys.argv[4:]]
tracemalloc.start(6)
def dump():
    time.sleep(warm)
    base = tracemalloc.take_snapshot()
    while True:
        time.sleep(every)
        snap = tracemalloc.take_snapshot()
        top = snap.compare_to(base, "traceback")[:12]
        cur, peak = tracemalloc.get_traced_memory()
        with open(out, "a") as fh:
            fh.write(f"=== t={time.time():.0f} traced {cur/1e6:.1f} MB (peak {peak/1e6:.1f})\n")
            for st in top:
                fh.write(f"{st.size_diff/1e6:+.3f} MB {st.count_diff:+d} blocks\n")
                for line in st.traceback.format()[-8:]:
                    fh.write("    " + line + "\n")
threading.Thread(target=dump, daemon=True).start()
runpy.run_module("edge.cli", run_name="__main__")
"""


def child_env(code_root: Path, extra: dict | None = None) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    e.update(PYTHONPATH=str(code_root), HF_HUB_OFFLINE="1",
             YOLO_CONFIG_DIR=os.environ.get("YOLO_CONFIG_DIR", str(ROOT / ".cache/ultralytics")))
    if os.environ.get("VIGIL_CACHE_DIR"):
        e["VIGIL_CACHE_DIR"] = os.environ["VIGIL_CACHE_DIR"]
    e.update(extra or {})
    return e


def default_clip(workdir: Path) -> Path:
    """The soak's synthetic street: the rendered copy in the cache when there is one, else rendered here."""
    cached = Path(os.environ.get("VIGIL_CACHE_DIR", ROOT / ".cache")) / "scenes/street_dev.mp4"
    if cached.exists():
        return cached
    from benchmarks.scenes import continuous
    video, _ = continuous.render_clip(continuous.SCRIPTS["street_dev"], workdir / "clips")
    return video


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stop(p: subprocess.Popen, timeout_s: float = 60.0) -> int | None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None
    return p.returncode


def run_arm(name: str, code_root: Path, clip: Path, seconds: float, every: float, warmup: float,
            workdir: Path, trace: float, extra_env: dict) -> dict:
    wd = workdir / name
    wd.mkdir(parents=True, exist_ok=True)
    port, rx_port, metrics_port = free_port(), free_port(), free_port()
    cloud_cfg = cloud_config(port, f"http://127.0.0.1:{rx_port}/alerts", wd / "outbox.db")
    cloud_cfg["store"] = {"path": str(wd / "events.db")}
    (wd / "cloud.yaml").write_text(yaml.safe_dump(cloud_cfg))
    cam = {"id": "cam-1", "name": f"rss: {clip.name}", "url": str(clip), "fps": CAMERA_FPS, "loop": True,
           "realtime": True, "objects": list(OBJECTS)}
    (wd / "edge.yaml").write_text(yaml.safe_dump(edge_config([cam], port, metrics_port)))
    procs: list[subprocess.Popen] = []
    logs = []

    def start(label: str, args: list[str], root: Path, env_extra: dict | None = None) -> subprocess.Popen:
        log = open(wd / f"{label}.log", "w")
        logs.append(log)
        p = subprocess.Popen([sys.executable, *args], cwd=wd, env=child_env(root, env_extra), stdout=log,
                             stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    samples: list[tuple[float, float]] = []
    try:
        # Receiver and cloud are this checkout's: only the edge differs between arms.
        start("receiver", ["-m", "testkit.load_receiver", "--port", str(rx_port), "--secret", SECRET,
                           "--out", str(wd / "received.jsonl")], ROOT)
        cloud = start("cloud", ["-m", "cloud.cli", "--config", "cloud.yaml"], ROOT)
        end = time.time() + 120
        while READY not in (wd / "cloud.log").read_text(errors="replace"):
            if cloud.poll() is not None or time.time() > end:
                raise RuntimeError("cloud did not start:\n" + (wd / "cloud.log").read_text()[-2000:])
            time.sleep(0.5)
        edge_args = (["-c", TRACE_WRAPPER, str(trace), str(warmup), str(wd / f"trace-{name}.txt")] if trace
                     else ["-m", "edge.cli"]) + ["--config", "edge.yaml"]
        edge = start("edge", edge_args, code_root, extra_env)
        t0 = time.time()
        while time.time() - t0 < seconds:
            mb = rss_mb(edge.pid)
            if mb is not None:
                samples.append((time.time(), mb))
            if edge.poll() is not None:
                raise RuntimeError("edge exited:\n" + (wd / "edge.log").read_text()[-2000:])
            time.sleep(every)
    finally:
        for p in reversed(procs):
            stop(p)
        for log in logs:
            log.close()
    summary = re.search(r"frames read (\d+), gated (\d+), events (\d+)", (wd / "edge.log").read_text(errors="replace"))
    counts = dict(zip(("frames_read", "frames_gated", "events"), map(int, summary.groups()))) if summary else {}
    return {"arm": name, "code": str(code_root), "env": extra_env, "run_s": round(samples[-1][0] - samples[0][0], 1),
            "rss": rss_slope_mb_per_h(samples, warmup), "edge_summary": counts,
            "samples_mb": [(round(t - samples[0][0], 1), round(mb, 1)) for t, mb in samples]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", action="append", default=[], metavar="NAME=PATH",
                    help="a code tree the edge runs from (repeatable); default: this checkout as 'this'")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--warmup", type=float, default=60.0)
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--clip", type=Path, default=None)
    ap.add_argument("--trace", type=float, default=0.0, help="tracemalloc dump every N seconds (0: off)")
    ap.add_argument("--env", action="append", default=[], metavar="K=V", help="extra env for the edge (e.g. MALLOC_ARENA_MAX=2)")
    ap.add_argument("--workdir", type=Path, default=ROOT / ".cache/edge_rss")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--note", default="")
    ap.add_argument("--name", default="default", help="this series' name in the result")
    ap.add_argument("--append", action="store_true",
                    help="keep the other series already in --out (one file, several configurations)")
    a = ap.parse_args(argv)
    prov = Provenance()
    a.workdir = a.workdir.resolve()
    clip = (a.clip or default_clip(a.workdir)).resolve()
    arms = [(x.split("=", 1)[0], Path(x.split("=", 1)[1]).resolve()) for x in a.arm] or [("this", ROOT)]
    extra_env = dict(x.split("=", 1) for x in a.env)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    runs = []
    for name, root in arms:
        print(f"edge_rss: {name} ({root}), {a.seconds:g} s", flush=True)
        runs.append(run_arm(name, root, clip, a.seconds, a.every, a.warmup, a.workdir / stamp, a.trace, extra_env))
        print(json.dumps({"arm": name, **runs[-1]["rss"]}), flush=True)
    series = {"name": a.name,
              "settings": {"clip": clip.name, "camera_fps": CAMERA_FPS, "loop": True, "realtime": True,
                           "cloud_engine": "stub:0.05", "seconds": a.seconds, "warmup_s": a.warmup,
                           "sample_every_s": a.every, "tracemalloc": bool(a.trace), "edge_env": extra_env},
              "note": a.note,
              "runs": runs,
              "provenance": {**prov.finish(), "repeats_not_applicable": (
                  "one run per arm: each is a single several-minute RSS series whose slope is the measure; "
                  "arms ran one after the other on a shared 2-core machine")}}
    earlier = json.loads(a.out.read_text())["series"] if a.append and a.out.exists() else []
    every = [*(e for e in earlier if e["name"] != a.name), series]
    summary = {e["name"]: {r["arm"]: {k: r["rss"].get(k) for k in ("slope_mb_per_h", "first_mb", "last_mb")}
                           | r.get("edge_summary", {}) for r in e["runs"]} for e in every}
    # the file's provenance is the newest series' (each series keeps its own)
    result = {"benchmark": "edge_rss", "summary": summary, "series": every, "provenance": series["provenance"]}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"edge_rss: wrote {a.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
