"""The edge agent: cameras -> gate cascade -> events -> transmission policy -> cloud.

Each camera runs in its own thread (decode + gate + events are CPU work and
must never stall the others or the network loop); the gRPC client and the
transmission policy live on one asyncio loop, and camera threads hand items
over with ``call_soon_threadsafe`` so the policy stays single-threaded.

A camera that cannot be read does not stop the others: it is reported, retried with backoff
and shown as failed (in /healthz, the status line and, through the cloud, the operator page)
while the rest stream. Only a camera list that cannot work at all is refused at start.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from edge.config import EdgeConfig, resolve_camera_url
from edge.events.tracker import EventTracker
from edge.events.hints import semantic_hints
from edge.gate.cascade import GateCascade
from edge.client import EdgeClient
from edge.live.tap import FrameTap
from edge.status import BITS_PER_BYTE, AgentStatus, CameraStatus, FrameRate, LinkStatus, status_lines
from edge.sources.worker import CameraWorker
from edge.sources.base import SourceError
from edge.transmit.base import OutgoingItem, TransmissionPolicy
from edge.transmit.registry import make_policy
from vigil.v1 import vigil_pb2 as pb

log = logging.getLogger("vigil.edge")

# How often each camera's state is compared with what the cloud was last told (a change is sent at once),
# and how often it is sent anyway, so the fps the operator page shows stays current.
CAMERA_REPORT_S = 1.0
CAMERA_REFRESH_S = 30.0


@dataclass
class AgentSummary:
    frames_read: int
    frames_gated: int
    events: int
    packets_sent: int
    bytes_sent: int
    descriptions: int
    camera_errors: int
    reconnects: int = 0

    def line(self) -> str:
        return (f"frames read {self.frames_read}, gated {self.frames_gated}, events {self.events}, "
                f"packets sent {self.packets_sent}, bytes sent {self.bytes_sent}, "
                f"descriptions received {self.descriptions}, camera errors {self.camera_errors}, "
                f"camera reconnects {self.reconnects}")


def file_problem(cam) -> str | None:
    """Why a file camera cannot be read now (missing, unreadable); None when it can, or is no file."""
    from pathlib import Path
    if cam.source_kind != "file":
        return None
    p = Path(str(cam.url))
    if not p.is_file():
        return f"video file not found: {p}"
    try:
        with p.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"video file not readable: {p} ({exc.strerror})"
    return None


def check_cameras(cameras) -> None:
    """Refuse, naming the cause, a camera list that cannot work at all: no enabled camera, or only
    file cameras none of which can be read. Any other broken camera is the worker's to report and retry."""
    if not cameras:
        raise SourceError("no enabled camera: every camera has enabled: false")
    problems = [(cam, file_problem(cam)) for cam in cameras]
    if all(why is not None for _, why in problems):
        raise SourceError("; ".join(f"camera {cam.id}: {why}" for cam, why in problems))


class EdgeAgent:
    def __init__(self, cfg: EdgeConfig, policy: TransmissionPolicy | None = None):
        self.cfg = cfg
        self.cameras = [resolve_camera_url(c) for c in cfg.cameras if c.enabled]
        check_cameras(self.cameras)
        self.policy = policy or make_policy(cfg.transmit)
        self.stats: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.workers: dict[str, CameraWorker] = {}
        self._running = 0
        self._lock = threading.Lock()
        self.frame_rate = FrameRate()
        infos = [pb.CameraInfo(camera_id=c.id, name=c.name, fps=c.fps) for c in self.cameras]
        self.client = EdgeClient(cfg.cloud, self.policy, infos, capabilities=(self.policy.name,))
        self.live_tap = FrameTap([c.id for c in self.cameras])
        self.live = None
        if cfg.live.enabled:
            from edge.live.publisher import LivePublisher
            self.live = LivePublisher(self.live_tap, fps=cfg.live.fps,
                                      max_viewers_per_camera=cfg.live.max_viewers_per_camera)
            self.client.on_live_offer = self.live.answer_offer

    def stop(self) -> None:
        self._stop.set()

    def _offer(self, item: OutgoingItem) -> None:  # on the loop thread
        self.policy.offer(item, time.time())
        self.client.notify()

    def _camera_worker(self, cam, loop: asyncio.AbstractEventLoop) -> None:
        """Gate and track one camera; its CameraWorker reconnects a broken stream by itself."""
        cascade = GateCascade(self.cfg.gate, cam)
        log.info("camera %s: gate detector %s", cam.id, cascade.detector.name)
        tracker = EventTracker(self.cfg.events, cam)
        worker = CameraWorker(cam).start()
        self.workers[cam.id] = worker
        try:
            for frame in worker.frames(self._stop):
                self._count("frames_read", cam.id)
                self.frame_rate.tick(cam.id, time.monotonic())
                result = cascade.process(frame)
                self.live_tap.put(cam.id, frame.image, [(d.x1, d.y1, d.x2, d.y2, d.label) for d in result.detections])
                if result.passed:
                    self._count("frames_gated", cam.id)
                for upd in tracker.update(frame, result):
                    self._hand_over(upd, loop)
            for upd in tracker.flush(time.time()):
                self._hand_over(upd, loop)
        except Exception:  # one camera's bug must not take the agent down
            log.exception("camera %s: processing failed", cam.id)
            self._count("camera_errors")
        finally:
            worker.stop()
            self._worker_done()

    def camera_status(self) -> list[dict]:
        """State machine snapshot per camera (state, reconnects, stalls, dropped frames)."""
        return [w.snapshot() for w in self.workers.values()]

    def _hand_over(self, upd, loop: asyncio.AbstractEventLoop) -> None:
        ev = upd.event
        if upd.stage == "new":
            self._count("events")
        # "end" goes out too (DAT turns it into a small end-of-event alert); other updates only with boxes.
        if upd.frame is None or (not upd.detections and upd.stage != "end"):
            return
        item = OutgoingItem(camera_id=ev.camera_id, event_id=ev.event_id, priority=pb.SEMANTIC_FRAME,
                            image=upd.frame.image, capture_time=upd.frame.capture_time, event_onset=ev.onset,
                            detections=list(upd.detections), hints=semantic_hints(ev), severity=ev.severity)
        loop.call_soon_threadsafe(self._offer, item)

    def _count(self, key: str, camera_id: str | None = None) -> None:
        with self._lock:
            self.stats[key] += 1
            if camera_id is not None:
                self.stats[f"{key}:{camera_id}"] += 1

    def status(self) -> AgentStatus:
        """Per-camera state, fps and counters, and the link's state now (edge/status.py)."""
        now, mono = time.time(), time.monotonic()
        health = {w["camera_id"]: w["health"] for w in self.camera_status()}
        with self._lock:
            s = dict(self.stats)
        cameras = []
        for c in self.cameras:
            h = health.get(c.id, {"state": "connecting", "cause": "", "retry_in_s": None})
            cameras.append(CameraStatus(camera_id=c.id, state=h["state"], fps=round(self.frame_rate.fps(c.id, mono), 2),
                                        frames_read=s.get(f"frames_read:{c.id}", 0),
                                        gated=s.get(f"frames_gated:{c.id}", 0),
                                        sent=self.client.stats.get(f"sent:{c.id}", 0),
                                        cause=h["cause"], retry_in_s=h["retry_in_s"]))
        rate = getattr(self.policy, "rate", None)
        spool = getattr(self.policy, "spool", None)
        link = LinkStatus(connected=bool(getattr(self.client, "connected", False)),
                          rate_bps=rate(now) * BITS_PER_BYTE if callable(rate) else None,
                          queued=self.policy.pending(), spooled=len(spool) if spool is not None else 0)
        return AgentStatus(cameras=cameras, link=link)

    async def _report_status(self) -> None:
        """One log line per camera (and one for the link) every status_interval_s, and a last one at the end."""
        try:
            while True:
                await asyncio.sleep(self.cfg.status_interval_s)
                for line in status_lines(self.status()):
                    log.info("%s", line)
        finally:   # cancelled when the agent stops: a run shorter than one interval still says how it went
            for line in status_lines(self.status()):
                log.info("%s", line)

    async def _report_cameras(self) -> None:
        """Tell the cloud each camera's state whenever one changes (the operator page's camera list)."""
        last: list[tuple[str, str, str]] | None = None
        sent_at = 0.0
        while True:
            cams = self.status().cameras
            now = [(c.camera_id, c.state, c.cause) for c in cams]
            if now != last or time.monotonic() - sent_at >= CAMERA_REFRESH_S:
                last, sent_at = now, time.monotonic()
                self.client.report_cameras([pb.CameraHealth(camera_id=c.camera_id, state=c.state, cause=c.cause,
                                                            fps=c.fps) for c in cams])
            await asyncio.sleep(CAMERA_REPORT_S)

    def _worker_done(self) -> None:
        with self._lock:
            self._running -= 1

    def _cameras_finished(self) -> bool:
        with self._lock:
            return self._running == 0

    async def run(self) -> AgentSummary:
        loop = asyncio.get_running_loop()
        self._running = len(self.cameras)
        for cam in self.cameras:
            t = threading.Thread(target=self._camera_worker, args=(cam, loop), name=f"camera-{cam.id}", daemon=True)
            t.start()
            self._threads.append(t)
        reporter = asyncio.create_task(self._report_status()) if self.cfg.status_interval_s > 0 else None
        cameras_reporter = asyncio.create_task(self._report_cameras())
        health = None
        if self.cfg.health_port is not None:
            from edge.health import HealthServer
            health = HealthServer(self.status, self.cfg.health_host, self.cfg.health_port).start()
        try:
            await self.client.run(self._cameras_finished)
        finally:
            cameras_reporter.cancel()
            if reporter is not None:
                reporter.cancel()
                await asyncio.gather(reporter, return_exceptions=True)   # its last status lines
            if health is not None:
                health.stop()
            self._stop.set()
            for t in self._threads:
                await asyncio.to_thread(t.join, 5.0)
            if self.live is not None:
                await self.live.close()
        return self.summary()

    def summary(self) -> AgentSummary:
        s, c = self.stats, self.client.stats
        return AgentSummary(frames_read=s["frames_read"], frames_gated=s["frames_gated"], events=s["events"],
                            packets_sent=c["packets_sent"], bytes_sent=c["bytes_sent"], descriptions=c["results"],
                            camera_errors=s["camera_errors"],
                            reconnects=sum(int(w.get("reconnects", 0)) for w in self.camera_status()))
