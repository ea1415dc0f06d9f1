"""Load and fault benchmark of the cloud's ingest + durable delivery -> benchmarks/results/load.json.

Load: N simulated 5-fps cameras on loopback (10 per simulated edge, one gRPC stream per edge)
against one real `vigil-cloud` process (stub engine ``stub:0.3``: the model is not what is
measured here) delivering to a real webhook receiver process. Every camera sends one frame per
0.2 s (a real 640x360 JPEG from the sample clip); every ``EVENT_PERIOD_S`` it starts an event:
an ALERT_METADATA packet plus a SEMANTIC_FRAME. Reported per N: frames/s ingested (Acks),
alerts delivered/s, p99 detected-alert latency (ALERT_METADATA written -> `detected` received by
the receiver; same clock), the cloud's peak RSS, and alerts lost end to end (events sent whose
alert neither reached the receiver with both stages nor waits in the outbox when the run ends;
those still queued are counted apart as ``alerts_queued_at_end``). ``cameras`` is the largest N
whose median p99 stays under 1 s with nothing lost.

Overload: 10x the largest N that met the goal, the generator sending at full rate whatever the
cloud answers (the worst edge: no backoff). Three arms, one run each (each takes ~1 min of a
shared 2-core box): ``default`` (the shipped config: fixed 256 KiB HTTP/2 window per edge, 256 MiB
admission budget), ``small_budget`` (a budget below the working set, so the admission policy is
exercised: context shed, alert frames degraded, alerts still all delivered) and ``auto_window``
(gRPC's auto-tuned window, what ran before: the transport buffers megabytes per edge). Each
reports what admission did to context and alert frames (from the Acks' ``admission`` status),
alerts delivered and lost, peak RSS and p99 detected latency; ``overload_peak_rss_mb`` and
``overload_alerts_lost`` at the top level are the default arm's (lost: summed over the arms).

Faults (real processes, the clip-driven `vigil-edge` where an edge is needed): edge restart,
SIGKILL of the cloud mid-stream with the receiver down, receiver down for a while, restart with
undelivered outbox, and a 10x overload of the load generator; each with sent / delivered /
duplicated (repeats by webhook-id at the receiver) / lost.

The machine is a shared 2-core box: the generator, the cloud and the receiver compete for it,
so absolute numbers are a lower bound for a dedicated host; ``provenance.loadavg`` says how busy
it was.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import cv2
import grpc
import psutil

from testkit.fault_procs import (CloudProc, ReceiverProc, cloud_config, free_port, run_edge, start_edge,
                                    wait_for)
from benchmarks.provenance import Provenance, summarize
from cloud.alerts.manager import alert_id_for
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

FPS = 5.0
CAMERAS_PER_EDGE = 10
EVENT_PERIOD_S = 10.0          # each camera starts an event this often (staggered)
EVENT_TICKS = int(EVENT_PERIOD_S * FPS)
FRAME_SIZE = (640, 360)
JPEG_QUALITY = 70
LATENCY_GOAL_S = 1.0
MODEL_LATENCY_S = 0.3
SETTLE_S = 20.0                # after sending stops: time for the last alerts to be delivered
RSS_SAMPLE_S = 0.2
RSS_POINTS = 4                 # RSS reported at 1/4, 2/4, 3/4 and the end of the sending phase
SMALL_BUDGET_BYTES = 8 << 20   # below the working set of 10x overload (decoded images awaiting the model)
OVERLOAD_ARMS = {"default": {}, "small_budget": {"admission_budget_bytes": SMALL_BUDGET_BYTES},
                 "auto_window": {"stream_window_bytes": None}}
RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
EDGE_TOKEN = "load-edge-token"


def _frame_jpeg() -> bytes:
    from vigil.footage import clip_path
    cap = cv2.VideoCapture(str(clip_path("bikes.mp4")))
    ok, img = cap.read()
    cap.release()
    img = cv2.resize(img, FRAME_SIZE)
    return cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), JPEG_QUALITY])[1].tobytes()


class _RssPeak(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc, self.peak, self._done = psutil.Process(pid), 0, threading.Event()
        self.samples: list[tuple[float, int]] = []    # (time, rss): bounded memory is flat, not only low

    def run(self) -> None:
        while not self._done.is_set():
            try:
                rss = self.proc.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            self.samples.append((time.time(), rss))
            time.sleep(RSS_SAMPLE_S)

    def at(self, t: float) -> float | None:
        """RSS in MiB at the last sample taken by time ``t``."""
        before = [r for ts, r in self.samples if ts <= t]
        return round(before[-1] / 2**20, 1) if before else None

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


async def _edge(port: int, edge: int, cameras: int, duration_s: float, jpeg: bytes, events: dict, counts: dict,
                acked: set):
    edge_id = f"load-{edge}"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_send_message_length", 8 << 20), ("grpc.max_receive_message_length", 8 << 20)]) as ch:
        call = pb_grpc.IngestStub(ch).Stream()
        await call.write(pb.EdgeMessage(hello=pb.Hello(edge_id=edge_id, auth_token=EDGE_TOKEN)))
        first = await call.read()
        assert first.WhichOneof("body") == "welcome", first

        async def read():
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    return
                if msg.WhichOneof("body") == "ack":
                    counts["acks"] += 1
                    kind = "context" if priority_of.pop((msg.ack.camera_id, msg.ack.sequence), None) == pb.CONTEXT else "alert_frames"
                    counts[f"{kind}_{msg.ack.admission or 'admitted'}"] += 1
                    aid = alert_packets.pop((msg.ack.camera_id, msg.ack.sequence), None)
                    if aid is not None:
                        acked.add(aid)
                elif msg.WhichOneof("body") == "error":
                    counts[f"error_{msg.error.code}"] += 1
        alert_packets: dict[tuple[str, int], str] = {}   # (camera, sequence) of ALERT_METADATA -> alert id
        priority_of: dict[tuple[str, int], int] = {}      # (camera, sequence) -> priority, until acked
        reader = asyncio.create_task(read())
        seq = {c: 0 for c in range(cameras)}
        start = time.time()
        tick = 0
        period = 1.0 / FPS
        while time.time() - start < duration_s:
            due = start + tick * period
            await asyncio.sleep(max(0.0, due - time.time()))
            now = time.time()
            for c in range(cameras):
                cam = f"cam-{c}"
                base = dict(camera_id=cam, run_id="load", capture_time=now, sent_time=now)
                if (tick + edge * CAMERAS_PER_EDGE + c) % EVENT_TICKS == 0:   # staggered over the period
                    event_id = f"{cam}-ev{tick}"
                    for prio, data in ((pb.ALERT_METADATA, b""), (pb.SEMANTIC_FRAME, jpeg)):
                        seq[c] += 1
                        priority_of[(cam, seq[c])] = prio
                        await call.write(pb.EdgeMessage(frame=pb.FramePacket(
                            **base, sequence=seq[c], event_id=event_id, event_onset=now, priority=prio, jpeg=data,
                            hints=pb.SemanticHints(counts={"person": 1}, severity=0.6))))
                        if prio == pb.ALERT_METADATA:
                            aid = alert_id_for(edge_id, cam, event_id)
                            events[aid] = time.time()
                            alert_packets[(cam, seq[c])] = aid
                    counts["sent"] += 2
                else:
                    seq[c] += 1
                    priority_of[(cam, seq[c])] = pb.CONTEXT
                    await call.write(pb.EdgeMessage(frame=pb.FramePacket(**base, sequence=seq[c],
                                                                         priority=pb.CONTEXT, jpeg=jpeg)))
                    counts["sent"] += 1
            tick += 1
        await call.done_writing()
        try:
            await asyncio.wait_for(reader, SETTLE_S)
        except asyncio.TimeoutError:  # overloaded: the cloud is still working through its backlog
            counts["streams_cut_before_last_ack"] += 1
            call.cancel()


def load_run(cameras: int, duration_s: float, workdir: Path, server: dict | None = None) -> dict:
    from collections import Counter
    workdir.mkdir(parents=True, exist_ok=True)
    rx = ReceiverProc(workdir, free_port()).start()
    port = free_port()
    cfg = cloud_config(port, rx.url, workdir / "outbox.db")
    cfg["server"].update(server or {})
    cfg["engine"]["model"] = f"stub:{MODEL_LATENCY_S}"
    cfg["alerts"]["describe_deadline_s"] = 10
    cfg["auth"] = {"tokens": {f"load-{e}": EDGE_TOKEN for e in range(cameras // CAMERAS_PER_EDGE + 1)}}
    try:
        cloud = CloudProc(workdir, port, cfg).start()
    except Exception:
        rx.stop()
        raise
    rss = _RssPeak(cloud.proc.pid)
    rss.start()
    jpeg = _frame_jpeg()
    events: dict[str, float] = {}
    acked: set[str] = set()
    counts: Counter = Counter()
    edges = [CAMERAS_PER_EDGE] * (cameras // CAMERAS_PER_EDGE) + ([cameras % CAMERAS_PER_EDGE] if cameras % CAMERAS_PER_EDGE else [])
    t0 = time.time()

    async def go():
        await asyncio.gather(*(_edge(port, i, n, duration_s, jpeg, events, counts, acked) for i, n in enumerate(edges)))
    try:
        asyncio.run(go())
        sent_for = time.time() - t0
        wait_for(lambda: _complete(rx, events), SETTLE_S, 0.5)
    finally:
        peak = rss.stop()
        cloud.term(30)
        rx.stop()
    per_alert, repeats = rx.tally()
    recv = {r["alert_id"]: r["t"] for r in rx.records() if r["stage"] == "detected" and r["ok"]}
    lat = sorted(recv[a] - t for a, t in events.items() if a in recv)
    complete = sum(1 for a in acked if per_alert.get(a) == ["detected", "described"])
    delivered_stages = sum(len(v) for v in per_alert.values())
    # Not at the receiver yet is not lost when the outbox still holds it (durable, sent later).
    with sqlite3.connect(workdir / "outbox.db") as db:
        queued = {r[0] for r in db.execute("SELECT DISTINCT alert_id FROM deliveries WHERE state != 'delivered'")}
    # Only an acknowledged alert is the cloud's to lose; an edge resends what was never acknowledged.
    incomplete = [a for a in acked if per_alert.get(a) != ["detected", "described"]]
    late = sum(1 for a in incomplete if a in queued)
    return {"cameras": cameras, "duration_s": round(sent_for, 2), "frames_sent": counts["sent"],
            "frames_per_s_ingested": round(counts["acks"] / sent_for, 1),
            "alerts_sent": len(events), "alerts_acknowledged": len(acked), "alerts_complete": complete,
            "alerts_queued_at_end": late,
            "alerts_lost": len(incomplete) - late,
            "alert_stages_delivered_per_s": round(delivered_stages / sent_for, 2), "duplicates": repeats,
            "p50_detected_latency_s": round(lat[len(lat) // 2], 4) if lat else None,
            "p99_detected_latency_s": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 4) if lat else None,
            "peak_rss_mb": round(peak / 2**20, 1),
            "rss_mb_while_sending": [rss.at(t0 + sent_for * k / RSS_POINTS) for k in range(1, RSS_POINTS + 1)], "packet_errors": {k: v for k, v in counts.items() if k.startswith("error_")},
            "admission": {f"{kind}_{status}": counts[f"{kind}_{status}"] for kind in ("context", "alert_frames")
                          for status in ("admitted", "degraded", "shed")}}


def _complete(rx: ReceiverProc, alerts) -> bool:
    per_alert, _ = rx.tally()
    return all(per_alert.get(a) == ["detected", "described"] for a in alerts)


ALERT_LINE = re.compile(r"alert (\w+) detected")


def _events_of(edge_output: str) -> int:
    m = re.findall(r"events (\d+)", edge_output)
    return int(m[-1]) if m else 0


def _fault_result(name: str, sent: int, rx: ReceiverProc, alerts: set[str], **extra) -> dict:
    per_alert, repeats = rx.tally()
    delivered = sum(1 for a in alerts if per_alert.get(a) == ["detected", "described"])
    out_of_order = sum(1 for a in alerts if a in per_alert and per_alert[a] != ["detected", "described"])
    return {"scenario": name, "sent": sent, "delivered": delivered, "duplicated": repeats,
            "lost": sent - delivered, "out_of_order": out_of_order, **extra}


def fault_edge_restart(work: Path) -> dict:
    rx = ReceiverProc(work, free_port()).start()
    port = free_port()
    cloud = CloudProc(work, port, cloud_config(port, rx.url, work / "outbox.db")).start()
    try:
        outs = [run_edge(port, work, work / "spool") for _ in range(2)]
        sent = sum(_events_of(o.stdout + o.stderr) for o in outs)
        alerts = set(ALERT_LINE.findall(cloud.log()))
        wait_for(lambda: _complete(rx, alerts), 30, 0.5)
    finally:
        cloud.stop()
        rx.stop()
    return _fault_result("edge_restart", sent, rx, alerts)


def fault_cloud_sigkill(work: Path) -> dict:
    rx = ReceiverProc(work, free_port())
    port = free_port()
    cloud = CloudProc(work, port, cloud_config(port, rx.url, work / "outbox.db")).start()
    edge = start_edge(port, work, work / "spool", work / "edge.log")
    try:
        wait_for(lambda: ALERT_LINE.search(cloud.log()), 60)
        time.sleep(1.0)
        cloud.kill()
        time.sleep(1.0)
        cloud.start()
        edge.wait(120)
        rx.start()
        alerts = set(ALERT_LINE.findall(cloud.log()))
        wait_for(lambda: _complete(rx, alerts), 60, 0.5)
    finally:
        edge.kill()
        cloud.stop()
        rx.stop()
    return _fault_result("cloud_sigkill_mid_stream_receiver_down", _events_of((work / "edge.log").read_text()),
                         rx, alerts)


def fault_receiver_down(work: Path, down_s: float) -> dict:
    rx = ReceiverProc(work, free_port())
    port = free_port()
    cloud = CloudProc(work, port, cloud_config(port, rx.url, work / "outbox.db")).start()
    t0 = time.time()
    try:
        out = run_edge(port, work, work / "spool", realtime=True)
        time.sleep(max(0.0, down_s - (time.time() - t0)))
        rx.start()
        alerts = set(ALERT_LINE.findall(cloud.log()))
        wait_for(lambda: _complete(rx, alerts), 60, 0.5)
    finally:
        cloud.stop()
        rx.stop()
    return _fault_result("receiver_down", _events_of(out.stdout + out.stderr), rx, alerts, down_s=down_s)


def fault_restart_with_outbox(work: Path) -> dict:
    rx = ReceiverProc(work, free_port())
    port = free_port()
    cloud = CloudProc(work, port, cloud_config(port, rx.url, work / "outbox.db", drain_timeout_s=2)).start()
    try:
        out = run_edge(port, work, work / "spool")
        alerts = set(ALERT_LINE.findall(cloud.log()))
        t0 = time.time()
        cloud.term(60)
        term_s = time.time() - t0
        rx.start()
        cloud.start()
        wait_for(lambda: _complete(rx, alerts), 30, 0.5)
    finally:
        cloud.stop()
        rx.stop()
    return _fault_result("restart_with_undelivered_outbox", _events_of(out.stdout + out.stderr), rx, alerts,
                         sigterm_exit_s=round(term_s, 2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", default="100,200,300", help="comma-separated camera counts to sweep")
    ap.add_argument("--duration-s", type=float, default=15.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--receiver-down-s", type=float, default=30.0, help="scaled down from minutes for CI")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--skip-faults", action="store_true", help="load sweep only (a quick look; not for results)")
    a = ap.parse_args(argv)
    prov = Provenance(seeds={}, model=f"stub:{MODEL_LATENCY_S}", fps=FPS, event_period_s=EVENT_PERIOD_S)
    sweep = [int(x) for x in a.cameras.split(",")]
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(a.repeats):                     # interleaved: each repeat visits every N
            for n in sweep:
                res = load_run(n, a.duration_s, root / f"load-{n}-{r}")
                res["repeat"] = r
                runs.append(res)
                print(json.dumps(res), flush=True)
        per_n = {}
        for n in sweep:
            rs = [x for x in runs if x["cameras"] == n]
            per_n[n] = {"cameras": n,
                        "p99_detected_latency_s": summarize([x["p99_detected_latency_s"] for x in rs]),
                        "frames_per_s_ingested": summarize([x["frames_per_s_ingested"] for x in rs]),
                        "alert_stages_delivered_per_s": summarize([x["alert_stages_delivered_per_s"] for x in rs]),
                        "peak_rss_mb": summarize([x["peak_rss_mb"] for x in rs]),
                        "alerts_lost": sum(x["alerts_lost"] for x in rs)}
        ok = [n for n in sweep if per_n[n]["p99_detected_latency_s"]["median"] < LATENCY_GOAL_S
              and per_n[n]["alerts_lost"] == 0]
        capacity = max(ok) if ok else 0
        if a.skip_faults:
            print(json.dumps(list(per_n.values())))
            return 0
        overload_n = max(10 * capacity, 10 * sweep[0])
        overload = {}
        for arm, server in OVERLOAD_ARMS.items():
            overload[arm] = {"arm": arm, "server": server, **load_run(overload_n, a.duration_s, root / f"overload-{arm}", server)}
            print(json.dumps(overload[arm]), flush=True)
        default = overload["default"]
        faults = [fault_edge_restart(root / "f1"), fault_cloud_sigkill(root / "f2"),
                  fault_receiver_down(root / "f3", a.receiver_down_s), fault_restart_with_outbox(root / "f4"),
                  *({"scenario": f"overload_10x_{arm}", "cameras": overload_n, "sent": o["alerts_acknowledged"],
                     "not_acknowledged_when_generator_stopped": o["alerts_sent"] - o["alerts_acknowledged"],
                     "delivered": o["alerts_complete"], "duplicated": o["duplicates"],
                     "lost": o["alerts_lost"], "peak_rss_mb": o["peak_rss_mb"],
                     "p99_detected_latency_s": o["p99_detected_latency_s"], "admission": o["admission"]}
                    for arm, o in overload.items())]
        for f in faults:
            print(json.dumps(f), flush=True)
    total_lost = sum(x["alerts_lost"] for x in runs) + sum(f["lost"] for f in faults)
    result = {"alerts_lost": total_lost, "cameras": capacity, "latency_goal_s": LATENCY_GOAL_S,
              "overload_peak_rss_mb": default["peak_rss_mb"],
              "overload_alerts_lost": sum(o["alerts_lost"] for o in overload.values()),
              "overload_p99_detected_latency_s": default["p99_detected_latency_s"],
              "sweep": list(per_n.values()), "runs": runs, "overload": overload, "faults": faults,
              "measured_elsewhere": ["worker crash in the Redis Streams scale-out mode: benchmarks/scale.py "
                                     "(scale.json kill_* keys) and tests/faults/test_scale_out.py"],
              "provenance": prov.finish(repeats=a.repeats)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"alerts_lost={total_lost} cameras={capacity} -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
