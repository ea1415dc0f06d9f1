"""The cloud side of the DAT benchmark: the real ``CloudService`` (gRPC ingest, auth, dedup, Acks,
two-stage AlertManager, dispatcher) with a fixed-latency engine and a sink that records alerts.

Why a fixed-latency engine: on this 2-core machine the real SmolLM2-LLaVA engine needs several
seconds per description and shares the CPU with the edge and the link emulation, so its queueing
would swamp (and randomise) the network effect being measured. The engine here waits
``model_latency_s`` per request (concurrently, like a batched server) and answers a schema-valid
description built from the edge's hints. The alert delay measured is therefore: network +
cloud ingest + this fixed model time, ending at the real AlertManager's ``described`` stage.

Writes ``--out`` (JSON lines, one per emitted alert stage) and ``--stats`` at SIGTERM.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time

from cloud.alerts.sinks.base import AlertSink
from cloud.config import CloudConfig
from cloud.engine.stub import FixedLatencyEngine
from cloud.service import CloudService


class RecordingSink(AlertSink):
    name = "bench-recorder"

    def __init__(self, path: str) -> None:
        self.f = open(path, "a", buffering=1)

    async def send(self, alert) -> None:
        self.f.write(json.dumps({"alert_id": alert.alert_id, "stage": alert.stage, "camera_id": alert.camera_id,
                                 "event_id": alert.event_id, "event_onset": alert.event_onset,
                                 "severity": alert.severity, "status": alert.description_status,
                                 "emitted_at": alert.emitted_at, "recorded_at": time.time()}) + "\n")

    async def close(self) -> None:
        self.f.close()


async def run(a) -> None:
    cfg = CloudConfig.model_validate({
        "server": {"host": a.host, "port": a.port, "hint_interval_s": 1.0},
        "alerts": {"describe_deadline_s": a.describe_deadline_s, "outbox_path": None},
        "api": {"enabled": False}, "store": {"path": None},
        "log_level": "WARNING"})
    engine = FixedLatencyEngine(a.model_latency_s)
    svc = CloudService(cfg, engine=engine, sinks=[RecordingSink(a.out)])
    port = await svc.start()
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write(str(port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await svc.drain(timeout_s=2.0)
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump({"server": dict(svc.service.stats), "emitted": dict(svc.emitted),
                       "engine_requests": engine.requests}, f)
    await svc.stop(0.5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--model-latency-s", type=float, default=0.3)
    ap.add_argument("--describe-deadline-s", type=float, default=600.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats")
    ap.add_argument("--ready-file")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(a))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
