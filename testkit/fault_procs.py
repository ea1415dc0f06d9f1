"""Real `vigil-cloud` / `vigil-edge` / webhook receiver processes, started, killed and restarted by fault tests and benchmarks/load.py."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRET = "fault-test-secret"
READY_LINE = "cloud listening on"
ENV_CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: dict | None = None) -> dict:
    env = dict(ENV_CLEAN, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
               YOLO_CONFIG_DIR=os.environ.get("YOLO_CONFIG_DIR", str(ROOT / ".cache/ultralytics")))
    env.update(extra or {})
    return env


class CloudProc:
    """One `python -m cloud.cli` with the stub engine; config written to ``workdir/cloud.yaml``."""

    def __init__(self, workdir: Path, port: int, config: dict):
        self.workdir, self.port = Path(workdir), port
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "cloud.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = self.workdir / "cloud.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90.0, args: tuple[str, ...] = ()) -> "CloudProc":
        self._log = open(self.log_path, "a")
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen([sys.executable, "-m", "cloud.cli", "--config", str(self.config_path), *args],
                                     cwd=self.workdir, env=child_env(), stdout=self._log, stderr=subprocess.STDOUT)
        wait_for_log_line(self.proc, self.log_path, offset, READY_LINE, timeout_s, "cloud", self.kill)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def term(self, timeout_s: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout_s)
        self._log.close()
        return rc

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text()


def cloud_config(port: int, webhook_url: str, outbox: Path, **alerts) -> dict:
    return {"demo": True,   # the fault runs use the published demo edge token on purpose
            "server": {"host": "127.0.0.1", "port": port},
            "engine": {"model": "stub:0.05"},
            "alerts": {"webhooks": [{"url": webhook_url, "secret": SECRET, "name": "rx"}], "describe_deadline_s": 5,
                       "outbox_path": str(outbox), "backoff_initial_s": 0.05, "backoff_max_s": 0.5,
                       "breaker_open_initial_s": 0.2, "breaker_open_max_s": 1.0, **alerts}}


def _edge_env(spool: Path, realtime: bool, extra_env: dict | None) -> dict:
    cams = f"[{{id: cam-1, name: bikes, url: 'sample:bikes.mp4', fps: 5, realtime: {str(realtime).lower()}}}]"
    return child_env({"VIGIL_EDGE__DEMO": "true", "VIGIL_EDGE__CLOUD__RESULTS_GRACE_S": "10", "VIGIL_EDGE__TRANSMIT__DAT__SPOOL_DIR": str(spool),
                 "VIGIL_EDGE__CLOUD__RECONNECT_MAX_S": "1", "VIGIL_EDGE__CAMERAS": cams, **(extra_env or {})})


def run_edge(port: int, workdir: Path, spool: Path, timeout_s: float = 120.0, realtime: bool = False,
             extra_env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", "--cloud", f"127.0.0.1:{port}"], cwd=workdir,
                          env=_edge_env(spool, realtime, extra_env), capture_output=True, text=True, timeout=timeout_s)


def start_edge(port: int, workdir: Path, spool: Path, log: Path, realtime: bool = True,
               extra_env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "--cloud", f"127.0.0.1:{port}"], cwd=workdir,
                            env=_edge_env(spool, realtime, extra_env), stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_for_log_line(proc: subprocess.Popen, log_path: Path, offset: int, line: str, timeout_s: float,
                      name: str, kill) -> None:
    """Return once `line` appears in `log_path` past `offset`; raise (with the log) if `proc` exits first,
    or call `kill` and raise after `timeout_s`."""
    end = time.time() + timeout_s
    while time.time() < end:
        if line in log_path.read_text()[offset:]:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_path.read_text()[offset:]}")
        time.sleep(0.05)
    kill()
    raise TimeoutError(f"{name} not ready in {timeout_s}s:\n{log_path.read_text()[offset:]}")


def wait_for_port(proc: subprocess.Popen, port: int, timeout_s: float, exited) -> bool:
    """True once 127.0.0.1:`port` accepts a connection; raise RuntimeError(`exited()`) if `proc`
    exits first; False after `timeout_s`."""
    end = time.time() + timeout_s
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(exited()) from None
            time.sleep(0.05)
    return False


def wait_for(cond, timeout_s: float, step_s: float = 0.1) -> bool:
    end = time.time() + timeout_s
    while time.time() < end:
        if cond():
            return True
        time.sleep(step_s)
    return cond()


def receipts(rx) -> tuple[dict[str, list[str]], int]:
    """Stages per alert as received (in order, repeats dropped by webhook-id) and how many repeats came
    (the sample receiver already drops repeats itself and counts them in ``duplicates``)."""
    seen, per_alert, repeats = set(), {}, getattr(rx, "duplicates", 0)
    for r in rx.received:
        key = r.headers.get("webhook-id") or r.headers.get("Webhook-Id")
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        per_alert.setdefault(r.body["alert_id"], []).append(r.body["stage"])
    return per_alert, repeats


class ReceiverProc:
    """testkit/load_receiver.py as a process: taken down and brought back by the scenarios."""

    def __init__(self, workdir: Path, port: int):
        Path(workdir).mkdir(parents=True, exist_ok=True)
        self.port, self.out = port, Path(workdir) / "received.jsonl"
        self.url = f"http://127.0.0.1:{port}/alerts"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90.0) -> "ReceiverProc":
        self.proc = subprocess.Popen([sys.executable, "-m", "testkit.load_receiver", "--port", str(self.port),
                                      "--secret", SECRET, "--out", str(self.out)], cwd=ROOT, env=child_env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_for_port(self.proc, self.port, timeout_s, lambda: f"receiver exited with {self.proc.returncode}"):
            return self
        raise TimeoutError("receiver did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def records(self) -> list[dict]:
        import json
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def tally(self) -> tuple[dict[str, list[str]], int]:
        """Stages per alert (repeats by webhook-id dropped) and the number of repeats."""
        seen, per_alert, repeats = set(), {}, 0
        for r in self.records():
            if not r["ok"]:
                continue
            if r["id"] in seen:
                repeats += 1
                continue
            seen.add(r["id"])
            per_alert.setdefault(r["alert_id"], []).append(r["stage"])
        return per_alert, repeats
