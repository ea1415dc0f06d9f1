"""The cloud's gRPC ingest service (grpc.aio).

One bidirectional stream per edge. The first message must be a ``Hello``
with a known (edge_id, token) pair, else the stream ends with
UNAUTHENTICATED. Every ``FramePacket`` is answered with an ``Ack`` (the edge's
bandwidth estimator feeds on them) or a ``PacketError`` naming what is wrong
(OVERSIZED, CORRUPT_JPEG, INVALID); a bad packet never ends the stream.
Accepted event packets drive the two-stage alerts: ``detected`` at once,
``described`` when the engine answers (or the deadline passes).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections import Counter
from typing import AsyncIterator

import cv2
import grpc
import numpy as np

from cloud.api.app import ApiServer, make_app
from cloud.api.links import event_links
from cloud.api.live import IngestObserver, LiveState
from cloud.api.live_relay import LiveRelay
from cloud.alerts.dispatcher import Dispatcher
from cloud.alerts.manager import AlertManager
from cloud.alerts.sinks.webhook import WebhookSink
from cloud.config import CloudConfig
from cloud.dedup import SeenWindow
from cloud.metrics import CloudMetrics, MeteredEngine
from cloud.store.events import EventStore
from cloud.health import CloudHealth
from vigil import __version__
from vigil.recent import RecentSet
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

log = logging.getLogger("vigil.cloud")

EXPIRE_INTERVAL_S = 0.1  # how often describe deadlines are checked
DESCRIBABLE = (pb.SEMANTIC_FRAME, pb.PRIORITY_UNSPECIFIED)
# Events remembered as having sent evidence; far more than are ever open at once.
MAX_EVIDENCE_EVENTS = 10_000


def decode_jpeg(data: bytes) -> np.ndarray | None:
    """RGB image or None when the bytes are not a decodable image."""
    if not data:
        return None
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def detections_to_dicts(pkt: pb.FramePacket) -> list[dict]:
    return [{"label": d.label, "score": round(float(d.score), 4), "track_id": int(d.track_id),
             "box": [d.box.x1, d.box.y1, d.box.x2, d.box.y2]} for d in pkt.detections]


def boxes_in_image(pkt: pb.FramePacket, width: int, height: int) -> list[dict]:
    """Detections mapped from source-frame pixels into the encoded image's pixels (crop + scale)."""
    crop = pkt.crop
    cx1, cy1 = crop.x1, crop.y1
    cw = (crop.x2 - crop.x1) or float(pkt.source_width or width)
    ch = (crop.y2 - crop.y1) or float(pkt.source_height or height)
    sx, sy = width / cw, height / ch
    out = []
    for d in detections_to_dicts(pkt):
        x1, y1, x2, y2 = d["box"]
        d = dict(d)
        d["box"] = [(x1 - cx1) * sx, (y1 - cy1) * sy, (x2 - cx1) * sx, (y2 - cy1) * sy]
        out.append(d)
    return out


class IngestService(pb_grpc.IngestServicer):
    def __init__(self, cfg: CloudConfig, engine, alerts: AlertManager, observer: IngestObserver | None = None):
        self.cfg = cfg
        self.observer = observer or IngestObserver()
        self.live_relay = LiveRelay()
        self.engine = engine
        self.alerts = alerts
        self.seen = SeenWindow(cfg.server.dedup_window)
        self.stats: Counter[str] = Counter()
        self._describe_tasks: set[asyncio.Task] = set()
        # (edge, camera, event) that sent full-quality evidence; the others are asked for it.
        self._evidence_seen: RecentSet[tuple[str, str, str]] = RecentSet(MAX_EVIDENCE_EVENTS)

    # -- authentication ---------------------------------------------------
    def _authorised(self, hello: pb.Hello) -> bool:
        expected = self.cfg.auth.tokens.get(hello.edge_id)
        return expected is not None and hmac.compare_digest(expected.encode(), hello.auth_token.encode())

    async def Stream(self, request_iterator: AsyncIterator[pb.EdgeMessage], context) -> AsyncIterator[pb.CloudMessage]:
        try:
            first = await anext(request_iterator.__aiter__())
        except StopAsyncIteration:
            return
        if first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "first message must be Hello with edge_id and auth_token")
        hello = first.hello
        if not self._authorised(hello):
            self.stats["auth_rejected"] += 1
            log.warning("rejected edge %r: unknown edge id or wrong token", hello.edge_id)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"unknown edge id or wrong token for edge {hello.edge_id!r}")
        session = uuid.uuid4().hex[:12]
        log.info("edge %s connected (agent %s, %d cameras, session %s)", hello.edge_id, hello.agent_version,
                 len(hello.cameras), session)
        self.stats["sessions"] += 1
        self.observer.on_hello(hello.edge_id, [(c.camera_id, c.name) for c in hello.cameras])
        out: asyncio.Queue[pb.CloudMessage | None] = asyncio.Queue()
        await out.put(pb.CloudMessage(welcome=pb.Welcome(session_id=session, server_version=__version__,
                                                          max_message_bytes=self.cfg.server.max_packet_bytes)))

        self.live_relay.attach(hello.edge_id, [c.camera_id for c in hello.cameras], out)

        async def read_loop() -> None:
            try:
                async for msg in request_iterator:
                    kind = msg.WhichOneof("body")
                    if kind == "frame":
                        self._on_frame(hello.edge_id, msg.frame, out)
                    elif kind == "live_answer":
                        self.live_relay.on_answer(msg.live_answer)
                    elif kind == "hello":
                        await out.put(self._error(None, "INVALID", "Hello sent twice on one stream; ignored"))
            except grpc.aio.AioRpcError as exc:  # pragma: no cover - peer went away
                log.info("edge %s stream ended: %s", hello.edge_id, exc.code())
            finally:
                await out.put(None)

        async def hint_loop() -> None:
            last = -1.0
            while True:
                await asyncio.sleep(self.cfg.server.hint_interval_s)
                bp = round(float(self.engine.backpressure()), 2)
                if bp != last:
                    last = bp
                    await out.put(pb.CloudMessage(hint=pb.Hint(backpressure=bp, reason="engine queue")))

        reader = asyncio.create_task(read_loop())
        hinter = asyncio.create_task(hint_loop())
        try:
            while True:
                msg = await out.get()
                if msg is None:
                    break
                yield msg
        finally:
            hinter.cancel()
            reader.cancel()
            self.observer.on_disconnect(hello.edge_id)
            self.live_relay.detach(hello.edge_id, out)
            log.info("edge %s disconnected (session %s)", hello.edge_id, session)

    # -- packets ----------------------------------------------------------
    @staticmethod
    def _error(pkt: pb.FramePacket | None, code: str, message: str) -> pb.CloudMessage:
        return pb.CloudMessage(error=pb.PacketError(camera_id=pkt.camera_id if pkt else "",
                                                    sequence=pkt.sequence if pkt else 0,
                                                    code=code, message=message))

    def _on_frame(self, edge_id: str, pkt: pb.FramePacket, out: asyncio.Queue) -> None:
        now = time.time()
        size = pkt.ByteSize()
        self.stats["packets"] += 1
        self.stats["bytes"] += size
        limit = self.cfg.server.max_packet_bytes
        if size > limit:
            self.stats["oversized"] += 1
            out.put_nowait(self._error(pkt, "OVERSIZED", f"packet of {size} bytes exceeds max_packet_bytes={limit}"))
            return
        if not pkt.camera_id:
            self.stats["invalid"] += 1
            out.put_nowait(self._error(pkt, "INVALID", "camera_id is empty"))
            return
        fresh = self.seen.check_and_add(edge_id, pkt.camera_id, pkt.sequence)
        ack = pb.Ack(camera_id=pkt.camera_id, sequence=pkt.sequence, receive_time=now, bytes=size,
                     edge_sent_time=pkt.sent_time, duplicate=not fresh)
        out.put_nowait(pb.CloudMessage(ack=ack))
        if not fresh:
            self.stats["duplicates"] += 1
            return
        self.observer.on_packet(edge_id, pkt.camera_id, size)
        image = None
        if pkt.jpeg:
            image = decode_jpeg(pkt.jpeg)
            if image is None:
                self.stats["corrupt_jpeg"] += 1
                log.warning("corrupt JPEG from %s/%s seq %d (%d bytes)", edge_id, pkt.camera_id, pkt.sequence, len(pkt.jpeg))
                out.put_nowait(self._error(pkt, "CORRUPT_JPEG", f"jpeg of {len(pkt.jpeg)} bytes could not be decoded"))
        if not pkt.event_id or pkt.priority == pb.CONTEXT:
            self.stats["context_frames"] += 1
            return
        if pkt.priority == pb.EVIDENCE and image is not None:
            self._evidence_seen.add((edge_id, pkt.camera_id, pkt.event_id))
        labels = dict(pkt.hints.counts) or dict(Counter(d.label for d in pkt.detections))
        aid, _ = self.alerts.on_packet(edge_id=edge_id, camera_id=pkt.camera_id, event_id=pkt.event_id,
                                       event_onset=pkt.event_onset or pkt.capture_time, labels=labels,
                                       detections=detections_to_dicts(pkt), severity=float(pkt.hints.severity),
                                       hints=self._hints_dict(pkt))
        if image is not None:
            self.observer.on_event_image(aid, pb.PriorityClass.Name(pkt.priority).lower(), pkt.jpeg,
                                         image.shape[1], image.shape[0])
        # Describe from the frame meant for the model (an alert thumbnail or evidence is not).
        if image is not None and pkt.priority in DESCRIBABLE and self.alerts.claim_description(aid):
            task = asyncio.get_running_loop().create_task(self._describe(aid, edge_id, pkt, image, out))
            self._describe_tasks.add(task)
            task.add_done_callback(self._describe_tasks.discard)

    @staticmethod
    def _hints_dict(pkt: pb.FramePacket) -> dict:
        h = pkt.hints
        return {"counts": dict(h.counts), "zone": h.zone, "dwell_seconds": h.dwell_seconds,
                "camera_name": h.camera_name, "severity": h.severity, "rule": h.rule, "event_stage": h.event_stage}

    async def _describe(self, aid: str, edge_id: str, pkt: pb.FramePacket, image: np.ndarray, out: asyncio.Queue) -> None:
        from cloud.engine.request import DescribeRequest  # engine package may be heavy; import lazily
        req = DescribeRequest(request_id=aid, camera_id=pkt.camera_id, event_id=pkt.event_id, images=[image],
                              detections=boxes_in_image(pkt, image.shape[1], image.shape[0]),
                              hints=self._hints_dict(pkt), severity=float(pkt.hints.severity),
                              deadline=time.time() + self.alerts.describe_deadline_s)
        try:
            result = await self.engine.describe(req)
        except Exception as exc:  # the model failing must not lose the alert
            log.exception("describe failed for alert %s", aid)
            self.stats["describe_errors"] += 1
            self.alerts.on_description_failed(aid, f"{type(exc).__name__}: {exc}")
            status, text = "error", ""
        else:
            self.stats["described"] += 1
            ok = self.alerts.on_description(aid, result.description.model_dump())
            status, text = ("ok" if ok else "timeout"), result.text
        out.put_nowait(pb.CloudMessage(result=pb.Result(event_id=pkt.event_id, camera_id=pkt.camera_id,
                                                        alert_id=aid, description_json=text,
                                                        description_status=status)))
        # The alert is out; make sure the user also gets the full-quality key frame (after a grace
        # period, so evidence already on its way is not asked for twice).
        await asyncio.sleep(self.cfg.server.evidence_request_after_s)
        if (edge_id, pkt.camera_id, pkt.event_id) not in self._evidence_seen:
            self.stats["evidence_requested"] += 1
            out.put_nowait(pb.CloudMessage(hint=pb.Hint(evidence_event_ids=[pkt.event_id],
                                                        reason="evidence for a described alert")))

    async def wait_idle(self, timeout_s: float | None = None) -> bool:
        tasks = list(self._describe_tasks)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending


class CloudService:
    """Owns the gRPC server, the engine and the alert pipeline."""

    def __init__(self, cfg: CloudConfig, engine=None, sinks=None):
        self.cfg = cfg
        if engine is None:
            from cloud.engine.engine import DescriptionEngine
            engine = DescriptionEngine.from_config(cfg.engine)
        self.engine = engine
        a = cfg.alerts
        if sinks is None:
            sinks = [WebhookSink(str(w.url), w.secret, w.timeout_s) for w in a.webhooks]
        if not sinks:
            log.warning("no alert sinks configured (alerts.webhooks is empty): alerts are only logged")
        self.dispatcher = Dispatcher(sinks, max_attempts=a.max_attempts, backoff_initial_s=a.backoff_initial_s,
                                     backoff_max_s=a.backoff_max_s, dead_letter_path=a.dead_letter_path)
        self.alerts = AlertManager(self._emit, describe_deadline_s=a.describe_deadline_s)
        self.store = EventStore.from_config(cfg.store)
        self.live = LiveState(self.store)
        self.metrics = CloudMetrics()
        self.service = IngestService(cfg, MeteredEngine(self.engine, self.metrics), self.alerts, observer=self.live)
        self.metrics.watch(self, self.live, self.store)
        self.api: ApiServer | None = None
        self._sweeper: asyncio.Task | None = None
        self.emitted: Counter[str] = Counter()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._expirer: asyncio.Task | None = None
        self.health = CloudHealth()
        self.model_loaded: asyncio.Task | None = None   # done when the model is up; its exception if it failed

    def _emit(self, alert) -> None:
        self.store.record_alert(alert)
        alert.links = event_links(self.cfg.api.public_url, alert.alert_id)
        self.emitted[alert.stage] += 1
        if alert.stage == "described":
            self.emitted[f"described_{alert.description_status}"] += 1
        log.info("alert %s %s camera=%s event=%s%s", alert.alert_id, alert.stage, alert.camera_id, alert.event_id,
                 f" status={alert.description_status}" if alert.stage == "described" else "")
        self.dispatcher.submit(alert)

    async def start(self) -> int:
        s = self.cfg.server
        limit = s.max_packet_bytes + s.transport_headroom_bytes
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                                ("grpc.max_send_message_length", limit)])
        pb_grpc.add_IngestServicer_to_server(self.service, self._server)
        self.health.attach(self._server)
        self.port = self._server.add_insecure_port(f"{s.host}:{s.port}")
        if self.port == 0:
            raise OSError(f"could not bind gRPC server to {s.host}:{s.port}")
        if hasattr(self.engine, "start"):
            self.engine.start()
        await self.health.set_serving(False)
        await self._server.start()
        self.model_loaded = asyncio.create_task(self.health.follow_engine(self.engine))
        self._expirer = asyncio.create_task(self._expire_loop())
        self._sweeper = asyncio.create_task(self._retention_loop())
        if self.cfg.api.enabled:
            app = make_app(self.store, tokens=self.cfg.api.tokens, live=self.live, ready=self.ready,
                           render_metrics=self.metrics.render, keepalive_s=self.cfg.api.stream_keepalive_s,
                           live_relay=self.service.live_relay, live_timeout_s=self.cfg.api.live_answer_timeout_s)
            self.api = ApiServer(app, self.cfg.api.host, self.cfg.api.port)
            log.info("operator API on %s:%d", self.cfg.api.host, await self.api.start())
        log.info("cloud listening on %s:%d", s.host, self.port)
        return self.port

    def ready(self) -> bool:
        """Ingest listening and the model loaded (what /readyz reports)."""
        m = self.model_loaded
        return self.port is not None and m is not None and m.done() and not m.cancelled() and m.exception() is None

    async def _retention_loop(self) -> None:
        while True:
            deleted = self.store.apply_retention()
            if deleted:
                log.info("event store retention deleted %d events", deleted)
            await asyncio.sleep(self.cfg.store.sweep_interval_s)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_INTERVAL_S)
            self.alerts.expire()

    async def drain(self, timeout_s: float = 60.0) -> bool:
        """Wait for in-flight descriptions (or their deadlines) and deliveries."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while self.alerts.open_count and loop.time() < end:
            await asyncio.sleep(0.05)
        return await self.dispatcher.drain(max(0.1, end - loop.time())) and not self.alerts.open_count

    async def stop(self, grace_s: float = 1.0) -> None:
        if self._expirer:
            self._expirer.cancel()
        if self._sweeper:
            self._sweeper.cancel()
        if self.api is not None:
            await self.api.stop()
        if self.model_loaded and not self.model_loaded.done():
            self.model_loaded.cancel()
        await self.health.shutting_down()
        if self._server:
            await self._server.stop(grace_s)
        if hasattr(self.engine, "close"):
            await self.engine.close()
        await self.dispatcher.close()
        self.store.close()
