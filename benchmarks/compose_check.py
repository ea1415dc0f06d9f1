"""`make compose-check`: compose.yaml run end to end by a real Docker engine, as a user would run it.

Builds the images, then for the default profile and for the scale profile (2 workers), interleaved,
3 rounds by default, in demo mode (VIGIL_DEMO=true): `up`, wait until every service is healthy, wait
for alerts at webhook-echo, `stop` (compose's order), and check that nothing was lost: every stage the cloud put in its
outbox was received by webhook-echo or is still pending there (durable, sent on the next start),
none is a dead letter, and every container exited 0. It also checks the two refusals: without
the demo flag or secrets a service exits 2 and is not restarted forever; without CAMERA_URL the
edge refuses. Writes benchmarks/results/compose.json.

The model: VIGIL_MODEL=tiny:qwen2_5_vl (the random test model, named), because the hub the real
default is downloaded from may be unreachable where this runs (it is on the machine that produced
the committed JSON). Everything else is compose.yaml as shipped; only the published host ports are
dropped (an override file), so the check neither needs nor takes ports 8000/8080/50051 on the host.

Not part of `make test`: it takes minutes and needs a Docker engine (exit 2 without one).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "compose.json"
PROJECT = "vigil-check"                  # not "vigil": a user's own deployment on this host is left alone
IMAGES = ("vigil/cloud:local", "vigil/edge:local", "vigil/webhook-echo:local")
BUILD_SERVICES = ("cloud", "edge", "webhook-echo")        # one service per image above
BASE_IMAGES = ("python:3.11-slim", "python:3.11-alpine", "redis:7.2-alpine")
STANDIN_LABEL = "docker-here.standin"
MODEL = "tiny:qwen2_5_vl"
ALERT_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z? \[alert (\w+)\] (\w+)\s")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HEALTH_TIMEOUT_S = 900
# Each profile's stop order as compose.yaml promises it (container name prefixes, earliest first).
STOP_ORDER = {"cpu": ["edge", "cloud", "webhook-echo"], "scale": ["edge", "gateway", "worker", "delivery"]}
OUTBOX_SQL = ("import json, sqlite3; db = sqlite3.connect('/var/lib/vigil/outbox.db'); print(json.dumps("
              "[[a, s, d] for a, s, d in db.execute('SELECT s.alert_id, s.stage, d.state FROM stages s "
              "LEFT JOIN deliveries d USING (stage_id)')]))")


def sh(*args: str, env: dict | None = None, check: bool = True, timeout: float = 1800) -> str:
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {(out.stderr or out.stdout)[-2000:]}")
    return out.stdout


def say(msg: str) -> None:
    print(f"compose-check: {msg}", flush=True)


class Compose:
    def __init__(self, profiles: list[str], override: Path, demo: bool = True, extra_env: dict | None = None):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "COMPOSE_", "CAMERA_URL"))}
        self.env.update(COMPOSE_PROFILES=",".join(profiles), VIGIL_MODEL=MODEL)
        if demo:
            self.env["VIGIL_DEMO"] = "true"
        self.env.update(extra_env or {})
        self.base = ["docker", "compose", "-p", PROJECT, "-f", "compose.yaml", "-f", str(override)]

    def __call__(self, *args: str, check: bool = True, timeout: float = 1800) -> str:
        return sh(*self.base, *args, env=self.env, check=check, timeout=timeout)

    def containers(self) -> list[dict]:
        ids = self("ps", "-a", "-q").split()
        return json.loads(sh("docker", "inspect", *ids)) if ids else []


def _ports_override(path: Path) -> None:
    spec = json.loads(sh("docker", "compose", "-f", "compose.yaml", "--profile", "cpu", "--profile", "scale",
                         "--profile", "gpu", "config", "--format", "json", env={**os.environ, "VIGIL_DEMO": "true"}))
    lines = ["services:"] + [f"  {name}: {{ports: !reset []}}" for name, svc in spec["services"].items()
                             if svc.get("ports")]
    path.write_text("\n".join(lines) + "\n")


def _health(containers: list[dict]) -> dict[str, str]:
    return {c["Name"].lstrip("/"): (c["State"].get("Health") or {}).get("Status", c["State"]["Status"])
            for c in containers}


def _wait_healthy(compose: Compose, t0: float) -> float:
    while time.monotonic() - t0 < HEALTH_TIMEOUT_S:
        health = _health(compose.containers())
        if health and all(h == "healthy" for h in health.values()):
            return time.monotonic() - t0
        bad = {n: h for n, h in health.items() if h in ("unhealthy", "exited", "dead")}
        if bad:
            raise RuntimeError(f"not healthy: {bad}\n{compose('logs', '--tail', '30', check=False)[-4000:]}")
        time.sleep(2)
    raise RuntimeError(f"not healthy after {HEALTH_TIMEOUT_S} s: {_health(compose.containers())}")


def _alerts(compose: Compose) -> list[tuple[float, str, str]]:
    """(unix time, alert id prefix, stage) of each alert line webhook-echo printed."""
    out = []
    text = compose("logs", "--no-color", "--no-log-prefix", "--timestamps", "webhook-echo", check=False)
    for line in ANSI.sub("", text).splitlines():
        m = ALERT_LINE.match(line)
        if m:
            ts = datetime.fromisoformat(m.group(1) + (m.group(2) or "")[:7] + "+00:00").timestamp()
            out.append((ts, m.group(3), m.group(4)))
    return out


def _outbox(volume: str) -> list[list]:
    return json.loads(sh("docker", "run", "--rm", "--network", "none", "-v", f"{volume}:/var/lib/vigil",
                         "--entrypoint", "python", IMAGES[0], "-c", OUTBOX_SQL))


def _finished(containers: list[dict]) -> dict[str, dict]:
    return {c["Name"].lstrip("/").removeprefix(PROJECT + "-"):
            {"exit_code": c["State"]["ExitCode"], "finished_at": c["State"]["FinishedAt"],
             "restarts": c["RestartCount"]} for c in containers}


def run_profile(name: str, profiles: list[str], override: Path, up_args: list[str], settle_s: float,
                min_described: int) -> dict:
    compose = Compose(profiles, override)
    compose("down", "-v", "--remove-orphans", check=False)
    say(f"{name}: up {' '.join(up_args)}")
    t0 = time.monotonic()
    wall0 = time.time()
    compose("up", "-d", "--no-build", *up_args, timeout=HEALTH_TIMEOUT_S)
    healthy_s = _wait_healthy(compose, t0)
    say(f"{name}: every service healthy after {healthy_s:.0f} s")
    first = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        alerts = _alerts(compose)
        if alerts and first is None:
            first = min(a[0] for a in alerts) - wall0
            say(f"{name}: first alert {first:.0f} s after up; collecting for {settle_s:.0f} s more")
            deadline = time.monotonic() + settle_s
        described = sum(a[2] == "described" for a in alerts)
        if first is not None and described >= min_described and time.monotonic() >= deadline - 1:
            break
        time.sleep(3)
    health_at_end = _health(compose.containers())
    say(f"{name}: stop")
    t_stop = time.monotonic()
    compose("stop", timeout=600)
    stop_s = time.monotonic() - t_stop
    containers = _finished(compose.containers())
    alerts = _alerts(compose)
    received = {(a[1], a[2]) for a in alerts}
    outbox = _outbox(f"{PROJECT}_cloud-state")
    states: dict[str, int] = {}
    for _, _, state in outbox:
        states[str(state)] = states.get(str(state), 0) + 1
    delivered_not_received = [(a, s) for a, s, st in outbox if st == "delivered" and (a[:8], s) not in received]
    lost = states.get("dead", 0) + len(delivered_not_received) + sum(st is None for _, _, st in outbox)
    result = {
        "compose_profiles": profiles, "up_args": up_args,
        "services_healthy": all(h == "healthy" for h in health_at_end.values()), "health_before_stop": health_at_end,
        "time_to_healthy_s": round(healthy_s, 1),
        "time_to_first_alert_s": None if first is None else round(first, 1),
        "alert_stages_received": len(alerts), "alerts_received": len({a[1] for a in alerts}),
        "described_stages_received": sum(a[2] == "described" for a in alerts),
        "duplicate_lines": len(alerts) - len(received),
        "outbox_stages": len(outbox), "outbox_states_after_stop": states,
        "pending_after_stop": states.get("pending", 0),
        "lost": lost, "stop_s": round(stop_s, 1), "containers_after_stop": containers,
        "all_exited_0": all(c["exit_code"] == 0 for c in containers.values()),
        "stop_order": [n for n, _ in sorted(containers.items(), key=lambda kv: kv[1]["finished_at"])],
    }
    result["stop_order_ok"] = _in_order(result["stop_order"], STOP_ORDER[profiles[0]])
    if "scale" in profiles:
        compose("start", "redis")
        result["redis_jobs_after_stop"] = {
            "stream_length": int(compose("exec", "-T", "redis", "redis-cli", "XLEN", "vigil:jobs").strip() or 0),
            "pending": int((compose("exec", "-T", "redis", "redis-cli", "XPENDING", "vigil:jobs", "workers").split()
                            or ["0"])[0])}
        compose("stop", "redis")
    compose("down", "-v", "--remove-orphans", check=False)
    say(f"{name}: {result['alerts_received']} alerts ({result['alert_stages_received']} stages), "
        f"lost {lost}, pending {result['pending_after_stop']}, stop {stop_s:.0f} s, order {result['stop_order']}")
    return result


SUMMARIZED = ("time_to_healthy_s", "time_to_first_alert_s", "stop_s", "alert_stages_received", "lost",
              "pending_after_stop")


def summarize(runs: list[dict]) -> dict:
    """Median and range of each number over the rounds (with 3 rounds, the range is a 75% interval for
    the median), and whether every round passed."""
    out: dict = {"rounds": len(runs), "interval": "min..max over the rounds"}
    for key in SUMMARIZED:
        values = sorted(r[key] for r in runs if r[key] is not None)
        if values:
            out[key] = {"median": values[len(values) // 2] if len(values) % 2 else
                        round((values[len(values) // 2 - 1] + values[len(values) // 2]) / 2, 1),
                        "min": values[0], "max": values[-1]}
    for key in ("services_healthy", "all_exited_0", "stop_order_ok"):
        out[key] = all(r[key] for r in runs)
    return out


def _in_order(stopped: list[str], promised: list[str]) -> bool:
    """Every container of each promised role stopped before any of the next role's."""
    rank = {n: i for i, n in enumerate(stopped)}
    groups = [[rank[n] for n in stopped if n.rsplit("-", 1)[0] == role] for role in promised]
    return all(g for g in groups) and all(max(a) < min(b) for a, b in zip(groups, groups[1:]))


def check_refusals(override: Path) -> dict:
    """Without the demo flag the published secrets are refused (exit 2), and not restarted forever."""
    out = {}
    compose = Compose(["cpu"], override, demo=False)
    compose("down", "-v", "--remove-orphans", check=False)
    compose("up", "-d", "--no-build", "--no-deps", "webhook-echo", check=False, timeout=120)
    time.sleep(40)
    c = {k: v for k, v in _finished(compose.containers()).items() if k.startswith("webhook-echo")}
    state = json.loads(sh("docker", "inspect", f"{PROJECT}-webhook-echo-1"))[0]["State"]
    log = ANSI.sub("", compose("logs", "--no-color", "--no-log-prefix", "webhook-echo", check=False)).strip().splitlines()
    out["webhook_echo_without_secret"] = {**next(iter(c.values())), "status_after_40s": state["Status"],
                                          "message": log[-1] if log else ""}
    compose("down", "-v", "--remove-orphans", check=False)
    edge = Compose(["cpu"], override, demo=False, extra_env={"VIGIL_EDGE_TOKEN": "a-real-token-0123456789"})
    r = subprocess.run([*edge.base, "run", "--rm", "--no-deps", "edge"], cwd=ROOT, env=edge.env,
                       capture_output=True, text=True, timeout=120)
    out["edge_without_camera_url"] = {"exit_code": r.returncode, "message": r.stderr.strip().splitlines()[-1:]}
    edge("down", "-v", "--remove-orphans", check=False)
    return out


def provenance() -> dict:
    def standin(image: str) -> str | None:
        label = sh("docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{STANDIN_LABEL}"}}}}', image,
                   check=False).strip()
        return label or None
    commit = sh("git", "rev-parse", "HEAD").strip()
    dirty = bool(sh("git", "status", "--porcelain", "--untracked-files=no").strip())
    return {
        "commit": commit, "dirty": dirty, "load_before": list(os.getloadavg()), "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
                    "loadavg_at_start": os.getloadavg()},
        "docker": sh("docker", "version", "-f", "{{.Server.Version}}").strip(),
        "compose": sh("docker", "compose", "version", "--short").strip(),
        "base_images": {img: {"standin": standin(img) is not None, "label": standin(img)} for img in BASE_IMAGES},
        "model": MODEL,
        "model_why": "the random test model, named: the compose default (Qwen/Qwen2.5-VL-3B-Instruct, a hub id) "
                     "cannot be downloaded here (no hub access)",
        "host_ports": "dropped by an override file (ports: !reset []); everything else is compose.yaml as shipped",
    }


def image_sizes() -> dict:
    sizes = {img: round(int(sh("docker", "image", "inspect", "-f", "{{.Size}}", img).strip()) / 1e9, 2)
             for img in IMAGES}
    # What the CUDA build of torch brings that a CPU-only host never uses (NVIDIA libraries + CUDA runtime).
    du = sh("docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", IMAGES[0], "-c",
            "cd /usr/local/lib/python3.11/site-packages && du -sbc nvidia cuda* triton torch 2>/dev/null")
    parts = {line.split()[1]: round(int(line.split()[0]) / 1e9, 2) for line in du.splitlines()}
    return {"gb": sizes, "cloud_parts_gb": parts,
            "scale_roles_share": "gateway, worker and delivery run vigil/cloud:local (one tag)",
            "cpu_only_build": "not built here (the PyTorch CPU wheel index is unreachable from this machine); "
                              "VIGIL_TORCH_INDEX_URL drops the nvidia and cuda parts above and swaps the CUDA torch "
                              "for the CPU one (0.76 GB installed for torch 2.13.0+cpu, measured outside Docker)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settle-s", type=float, default=60, help="seconds to keep collecting alerts after the first")
    p.add_argument("--out", default=str(RESULT))
    p.add_argument("--repeats", type=int, default=3, help="rounds of both profiles (interleaved)")
    p.add_argument("--no-cache", action="store_true", help="build every image layer again (a cold build's time; "
                   "the base images are not pulled)")
    args = p.parse_args(argv)
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        print("compose-check: no Docker engine answers `docker info`: start one (without registry access, the base "
              f"images {', '.join(BASE_IMAGES)} must already be on it)", file=sys.stderr)
        return 2
    prov = provenance()
    prov["repeats"] = args.repeats
    with tempfile.TemporaryDirectory() as tmp:
        override = Path(tmp) / "no-host-ports.yaml"
        _ports_override(override)
        say("building the images (docker compose build)")
        t = time.monotonic()
        # One service per image: the scale roles share the cloud's image, and compose would build it once per
        # service (from cache after the first, but every time with --no-cache).
        Compose(["cpu", "scale"], override)("build", *(["--no-cache"] if args.no_cache else []), *BUILD_SERVICES,
                                            timeout=3600)
        build_s = time.monotonic() - t
        result = {"provenance": prov, "build_s": round(build_s, 1),
                  "build_cache": "none (--no-cache): every layer built, packages downloaded" if args.no_cache
                  else "layers from earlier builds on this engine reused where unchanged",
                  "images": image_sizes()}
        runs: dict[str, list[dict]] = {"default": [], "scale": []}
        for i in range(args.repeats):            # interleaved: default, scale, default, scale, ...
            say(f"round {i + 1} of {args.repeats}")
            runs["default"].append(run_profile("default", ["cpu"], override, [], args.settle_s, 3))
            runs["scale"].append(run_profile("scale", ["scale"], override, ["--scale", "worker=2"], args.settle_s, 3))
        for name, profile_runs in runs.items():
            result[name] = {"summary": summarize(profile_runs), "runs": profile_runs}
        result["refusals"] = check_refusals(override)
    ok = all(r["services_healthy"] and r["lost"] == 0 and r["alert_stages_received"] > 0 and r["all_exited_0"]
             and r["stop_order_ok"] for profile_runs in runs.values() for r in profile_runs)
    refused = result["refusals"]
    ok = ok and refused["edge_without_camera_url"]["exit_code"] == 2 and \
        refused["webhook_echo_without_secret"]["exit_code"] == 2 and \
        refused["webhook_echo_without_secret"]["status_after_40s"] == "exited"
    result["ok"] = ok
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    say(f"{'OK' if ok else 'FAILED'}: wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
