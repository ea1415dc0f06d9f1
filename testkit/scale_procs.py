"""Real processes of the scale-out mode: a `redis-server`, `vigil-cloud --role gateway|worker|delivery`,
and a scripted edge that sends N events over gRPC; used by tests/faults/test_scale_out.py and
benchmarks/scale.py.

The scripted edge (``send_events``) is not the edge agent: it sends exactly the packets an event
makes (an ``ALERT_METADATA`` packet, then the ``SEMANTIC_FRAME`` the model describes), so a test
knows how many alerts must arrive and can replay the very same packets.
"""
from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from testkit.fault_procs import ROOT, SECRET, child_env, free_port, wait_for_log_line, wait_for_port

REDIS_READY_S = 10.0
ROLE_READY_LINES = {"gateway": "cloud listening on", "worker": "reading", "delivery": "delivery: reading"}
FRAME_SIDE = 64               # pixels of the scripted edge's frames (what is measured is the pipeline, not JPEG)
ACK_TIMEOUT_S = 30.0
# PacketErrors after which no Ack follows (RATE_LIMITED or a bad image still queue the packet's alert).
FINAL_ERRORS = ("OVERLOADED", "INTERNAL", "OVERSIZED", "INVALID")
# One scripted edge stands for many cameras here: its per-edge rate limit must not thin what is measured.
SCRIPTED_EDGE_PACKETS_PER_S = 1_000_000.0


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


class RedisProc:
    """`redis-server` on a free loopback port with its files in ``workdir``: append-only file on and no
    eviction, the settings the scale-out mode asks for."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisProc":
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--appendonly", "yes", "--maxmemory-policy", "noeviction", "--save", "", "--protected-mode", "no"],
            stdout=open(self.workdir / "redis.log", "w"), stderr=subprocess.STDOUT)
        if wait_for_port(self.proc, self.port, REDIS_READY_S,
                         lambda: f"redis-server exited: {(self.workdir / 'redis.log').read_text()[-2000:]}"):
            return self
        self.stop()
        raise TimeoutError("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: what Redis had acknowledged is in its append-only file; ``start()`` reloads it."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def scale_config(port: int, redis_url: str, webhook_url: str, outbox: Path, *, latency_s: float = 0.05,
                 concurrency: int = 8, claim_idle_s: float = 2.0, **scale) -> dict:
    return {"demo": True,   # the scripted edge uses the published demo edge token on purpose
            "server": {"host": "127.0.0.1", "port": port, "evidence_request_after_s": 0.5,
                       "rate_limit_packets_per_s": SCRIPTED_EDGE_PACKETS_PER_S},
            "engine": {"model": f"stub:{latency_s}"},
            "api": {"enabled": False},
            "store": {"path": None},
            "scale": {"mode": "redis", "redis_url": redis_url, "claim_idle_s": claim_idle_s,
                      "worker_concurrency": concurrency, **scale},
            "alerts": {"webhooks": [{"url": webhook_url, "secret": SECRET, "name": "rx"}], "describe_deadline_s": 10,
                       "outbox_path": str(outbox), "backoff_initial_s": 0.05, "backoff_max_s": 0.5,
                       "breaker_open_initial_s": 0.2, "breaker_open_max_s": 1.0}}


class RoleProc:
    """One `python -m cloud.cli --role ROLE` with its own log file."""

    def __init__(self, workdir: Path, name: str, role: str, config: dict):
        self.workdir, self.name, self.role = Path(workdir), name, role
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> "RoleProc":
        log = open(self.log_path, "a")
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen([sys.executable, "-m", "cloud.cli", "--role", self.role,
                                      "--config", str(self.config_path)], cwd=self.workdir, env=child_env(),
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for_log_line(self.proc, self.log_path, offset, ROLE_READY_LINES[self.role], timeout_s, self.name,
                          self.kill)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def term(self, timeout_s: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@dataclass
class Cluster:
    """redis + gateway(s) + N workers + delivery, started in that order."""
    workdir: Path
    webhook_url: str
    workers: int = 2
    latency_s: float = 0.05
    concurrency: int = 8
    scale: dict = field(default_factory=dict)
    api_port: int | None = None     # the delivery role serves the operator API here (off when None)
    gateways: int = 1               # gateway i listens on ports[i]; ``port`` is the first
    procs: dict[str, RoleProc] = field(default_factory=dict)

    def start(self) -> "Cluster":
        self.redis = RedisProc(self.workdir / "redis").start()
        self.ports = [free_port() for _ in range(self.gateways)]
        self.port = self.ports[0]
        cfg = scale_config(self.port, self.redis.url, self.webhook_url, self.workdir / "outbox.db",
                           latency_s=self.latency_s, concurrency=self.concurrency, **self.scale)
        if self.api_port is not None:
            cfg["api"] = {"enabled": True, "host": "127.0.0.1", "port": self.api_port}
        try:
            for i, port in enumerate(self.ports):
                name = "gateway" if i == 0 else f"gateway{i}"
                self.procs[name] = RoleProc(self.workdir, name, "gateway",
                                            {**cfg, "server": {**cfg["server"], "port": port}}).start()
            names = [*((f"worker{i}", "worker") for i in range(self.workers)), ("delivery", "delivery")]
            for name, role in names:
                self.procs[name] = RoleProc(self.workdir, name, role, cfg).start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for p in self.procs.values():
            p.kill()
        self.redis.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.log()[-3000:]}" for n, p in self.procs.items())


# -- the scripted edge -------------------------------------------------------------------------
def _jpeg(i: int) -> bytes:
    img = np.full((FRAME_SIDE, FRAME_SIDE, 3), (i * 37) % 256, dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def event_packets(n_events: int, run_id: str | None = None, camera_id: str = "cam-1", events: str | None = None) -> list:
    """Two packets per event (metadata, then the frame to describe), numbered 1.. per camera by edge
    process ``run_id``; events are named ``ev-<events>-<i>`` (default: the run id)."""
    from vigil.v1 import vigil_pb2 as pb
    run_id = run_id or uuid.uuid4().hex[:12]
    now, pkts, seq = time.time(), [], 0
    for i in range(n_events):
        event = f"ev-{events or run_id}-{i}"
        det = pb.Detection(label="person", score=0.9, track_id=i, box=pb.Box(x1=4, y1=4, x2=40, y2=60))
        hints = pb.SemanticHints(counts={"person": 1}, severity=0.5, camera_name="bench")
        for prio, jpeg in ((pb.ALERT_METADATA, b""), (pb.SEMANTIC_FRAME, _jpeg(i))):
            seq += 1
            pkts.append(pb.FramePacket(camera_id=camera_id, sequence=seq, capture_time=now, event_onset=now,
                                       event_id=event, priority=prio, jpeg=jpeg, width=FRAME_SIDE,
                                       height=FRAME_SIDE, source_width=FRAME_SIDE, source_height=FRAME_SIDE,
                                       detections=[det], hints=hints, sent_time=now, run_id=run_id))
    return pkts


async def _send(port: int, packets: list, pace_s: float, results: int = 0, evidence_requests: int = 0) -> dict:
    import grpc
    from vigil.demo_secrets import DEMO_EDGE_ID, DEMO_TOKEN
    from vigil.v1 import vigil_pb2 as pb
    from vigil.v1 import vigil_pb2_grpc as pb_grpc
    tally = {"acked": 0, "duplicates": 0, "errors": {}, "results": [], "evidence_requested": []}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.IngestStub(channel)
        done = asyncio.Event()

        async def requests():
            yield pb.EdgeMessage(hello=pb.Hello(edge_id=DEMO_EDGE_ID, auth_token=DEMO_TOKEN, agent_version="scripted",
                                                cameras=[pb.CameraInfo(camera_id="cam-1", name="bench")]))
            for pkt in packets:
                yield pb.EdgeMessage(frame=pkt)
                if pace_s:
                    await asyncio.sleep(pace_s)
            await done.wait()

        answered: set[int] = set()   # sequences with an Ack or a refusal (other errors come before an Ack)
        async for msg in stub.Stream(requests()):
            kind = msg.WhichOneof("body")
            if kind == "ack":
                tally["acked"] += 1
                tally["duplicates"] += msg.ack.duplicate
            elif kind == "error":
                tally["errors"][msg.error.code] = tally["errors"].get(msg.error.code, 0) + 1
            elif kind == "result":
                tally["results"].append((msg.result.event_id, msg.result.description_status))
            elif kind == "hint" and msg.hint.evidence_event_ids:
                tally["evidence_requested"].extend(msg.hint.evidence_event_ids)
            if kind == "ack" or (kind == "error" and msg.error.code in FINAL_ERRORS):
                answered.add(msg.ack.sequence if kind == "ack" else msg.error.sequence)
            if (len(answered) >= len(packets) and len(tally["results"]) >= results
                    and len(tally["evidence_requested"]) >= evidence_requests):
                done.set()
                break
    return tally


def send_events(port: int, packets: list, pace_s: float = 0.0, timeout_s: float = ACK_TIMEOUT_S, *,
                results: int = 0, evidence_requests: int = 0) -> dict:
    """Send ``packets`` on one stream and wait for an answer (Ack or PacketError) to each, and for
    ``results`` Results and ``evidence_requests`` evidence requests."""
    return asyncio.run(asyncio.wait_for(_send(port, packets, pace_s, results, evidence_requests), timeout_s))


__all__ = ["ROOT", "Cluster", "RedisProc", "RoleProc", "event_packets", "redis_available", "scale_config",
           "send_events"]
