"""The cloud's gRPC ingest service (grpc.aio).

One bidirectional stream per edge. The first message must be a ``Hello``
with a known (edge_id, token) pair, else the stream ends with
UNAUTHENTICATED. Every ``FramePacket`` is answered with an ``Ack`` (the edge's
bandwidth estimator feeds on them) or a ``PacketError`` naming what is wrong
(OVERSIZED, CORRUPT_JPEG, INVALID); a bad packet never ends the stream.
Accepted event packets drive the two-stage alerts: ``detected`` at once,
``described`` when the engine answers (or the deadline passes).

Nothing accepted is lost: a packet is acknowledged only after the alert stage
it caused is committed to the durable outbox (cloud/alerts/outbox.py), from
which the dispatcher delivers. Untrusted input is bounded before work is done:
field sizes (cloud/packet_limits.py), image pixels read from the JPEG header
before decoding, decoding itself on a worker thread (never on the event loop),
and a stream that does not say Hello within ``hello_timeout_s`` is closed. Memory is bounded under
overload twice over: each edge's HTTP/2 window is fixed (``stream_window_bytes``), so the transport
buffers a bounded amount per edge, and the frames the ingest holds are admitted against a byte
budget that sheds context first and never an alert (cloud/admission.py).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import socket
import sqlite3
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator

import cv2
import grpc
import numpy as np

from cloud.admission import AdmissionBudget, Verdict
from cloud.api.app import ApiServer, make_app
from cloud.api.links import event_links
from cloud.api.live import IngestObserver, LiveState
from cloud.api.live_relay import LiveRelay
from cloud.alerts.dispatcher import Dispatcher
from cloud.alerts.routes import build_routes, retry_policy
from cloud.alerts.manager import AlertManager
from cloud.alerts.outbox import Outbox
from cloud.auth import TokenStore
from cloud.config import DEMO_TOKEN, CloudConfig
from cloud.dedup import SeenWindow
from cloud.describe_pump import DescribePump, timeout_reason
from cloud.describe_queue import DescribeJob
from cloud.health import CloudHealth
from cloud.metrics import CloudMetrics, MeteredEngine
from cloud.packet_limits import MAX_ID_CHARS, check_image, check_packet, jpeg_dimensions, short
from cloud.rate_limit import EdgeRateLimiter
from cloud.store.events import EventStore
from vigil.link_security import plaintext_allowed
from vigil.redact import register_secret
from vigil import __version__
from vigil.recent import RecentSet
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

log = logging.getLogger("vigil.cloud")

MAX_TOKEN_CHARS = 512    # a token is a secret, not a payload
EXPIRE_INTERVAL_S = 0.1  # how often describe deadlines are checked
HOUSEKEEPING_INTERVAL_S = 600.0  # how often delivered outbox rows past retention are deleted
ALERT_MEMORY_S = 300.0   # finished alerts kept in memory; older ones are looked up in the outbox


REVOKED = object()  # queued to a session whose edge lost its token


class BindError(OSError):
    """The gRPC port could not be bound (another process holds it)."""
DESCRIBABLE = (pb.SEMANTIC_FRAME, pb.PRIORITY_UNSPECIFIED)
# Events remembered as having sent evidence; far more than are ever open at once.
MAX_EVIDENCE_EVENTS = 10_000
# A degraded frame is decoded at half width and height (libjpeg scales while decoding: cheaper too).
REDUCED_DECODE = cv2.IMREAD_REDUCED_COLOR_2


def decode_jpeg(data: bytes, reduced: bool = False) -> np.ndarray | None:
    """RGB image (at half resolution when ``reduced``) or None when the bytes are not a decodable image."""
    if not data:
        return None
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, REDUCED_DECODE if reduced else cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def alert_bearing(pkt: pb.FramePacket) -> bool:
    """A packet of an event other than its context: the admission policy always admits these."""
    return bool(pkt.event_id) and pkt.priority != pb.CONTEXT


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


def server_credentials(tls) -> grpc.ServerCredentials:
    """TLS credentials from ``server.tls``; with ``client_ca_file`` edges must present a certificate it signed."""
    try:
        key, cert = tls.key_file.read_bytes(), tls.cert_file.read_bytes()
        ca = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    except OSError as exc:
        raise BindError(f"server.tls: cannot read {exc.filename}: {exc.strerror}") from None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def probe_bind(host: str, port: int) -> None:
    """Raise BindError when ``host:port`` cannot be bound (taken by another process)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does: TIME_WAIT is no conflict
        try:
            sock.bind(addr)
        except OSError as exc:
            raise BindError(f"cannot listen on {host}:{port}: {exc.strerror.lower()} "
                            "(another vigil-cloud running?)") from None


def open_grpc_server(s, servicer: pb_grpc.IngestServicer, health: CloudHealth) -> tuple[grpc.aio.Server, int]:
    """The ingest gRPC server for ``server`` settings ``s`` (TLS or an allowed plaintext), bound, not started.
    Raises BindError with a one-line reason."""
    limit = s.max_packet_bytes + s.transport_headroom_bytes
    # so_reuseport off: a second cloud on an occupied port must fail, not share the edges.
    # A fixed HTTP/2 window (BDP probing off): with auto-growth each edge's stream could buffer
    # megabytes in the transport under overload (1.5 GB RSS at 3000 cameras).
    window = [] if s.stream_window_bytes is None else [("grpc.http2.bdp_probe", 0),
                                                        ("grpc.http2.lookahead_bytes", s.stream_window_bytes)]
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit),
                                      ("grpc.so_reuseport", 0), *window])
    pb_grpc.add_IngestServicer_to_server(servicer, server)
    health.attach(server)
    address = f"{s.host}:{s.port}"
    if s.tls is None:
        allowed, why = plaintext_allowed(s.host, s.plaintext)
        if not allowed:
            raise BindError(f"refusing to serve {address} without TLS: {why}")
        if why == "plaintext: true":
            log.warning("PLAINTEXT gRPC on %s: edge tokens and frames cross the network unencrypted "
                        "(server.plaintext is set; configure server.tls)", address)
    probe_bind(s.host, s.port)  # before gRPC, whose own bind failure also prints a C++ log line
    try:
        if s.tls is not None:
            port = server.add_secure_port(address, server_credentials(s.tls))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio raises RuntimeError("Failed to bind ...")
        raise BindError(f"cannot listen on {address}: port in use or not available") from None
    if port == 0:
        raise BindError(f"cannot listen on {address}: port in use or not available")
    return server, port


def record_description(alerts, stats, aid: str, result=None, error: Exception | None = None) -> tuple[str, str]:
    """The alert's `described` stage from the model's `result`, or its failure from `error` (the alert still
    goes out); returns (status, description text) for the edge's Result."""
    reason = timeout_reason(error) if error is not None else None
    if reason is not None:  # the engine refused it for load: a timeout with its reason, not a failure
        log.warning("no description for alert %s: %s: %s", aid, reason, error)
        stats[f"describe_{reason}"] += 1
        alerts.on_timeout(aid, reason, str(error))
        return "timeout", ""
    if error is not None:
        log.error("describe failed for alert %s", aid, exc_info=error)
        stats["describe_errors"] += 1
        alerts.on_description_failed(aid, f"{type(error).__name__}: {error}")
        return "error", ""
    stats["described"] += 1
    ok = alerts.on_description(aid, result.description.model_dump())
    return ("ok" if ok else "timeout"), result.text


def build_engine(engine_cfg):
    """The description engine ``engine`` settings name: the model-free stub (``stub:<seconds>``) or the model."""
    from cloud.engine.stub import FixedLatencyEngine, stub_latency
    latency = stub_latency(engine_cfg.model)
    if latency is not None:
        log.warning("engine.model=%s: model-free stub engine, descriptions are built from edge hints only",
                    engine_cfg.model)
        return FixedLatencyEngine(latency)
    from cloud.engine.engine import DescriptionEngine
    return DescriptionEngine.from_config(engine_cfg)


class IngestService(pb_grpc.IngestServicer):
    def __init__(self, cfg: CloudConfig, engine, alerts: AlertManager, tokens: TokenStore | None = None,
                 observer: IngestObserver | None = None):
        self.cfg = cfg
        self.observer = observer or IngestObserver()
        self.live_relay = LiveRelay()
        self.engine = engine
        self.alerts = alerts
        self.tokens = tokens or TokenStore(cfg.auth.tokens, cfg.auth.token_file)
        s = cfg.server
        self.limiter = EdgeRateLimiter(s.rate_limit_packets_per_s, s.rate_limit_bytes_per_s, s.rate_limit_burst_s)
        # session id -> (edge id, token digest it authenticated with, its outgoing queue)
        self._sessions: dict[str, tuple[str, str, asyncio.Queue]] = {}
        self.seen = SeenWindow(cfg.server.dedup_window)
        self.admission = AdmissionBudget(s.admission_budget_bytes, s.admission_context_share)
        self._decoder = ThreadPoolExecutor(max_workers=cfg.server.decode_threads, thread_name_prefix="vigil-jpeg")
        self.stats: Counter[str] = Counter()
        self._describe_tasks: set[asyncio.Task] = set()
        # Which event the model describes next, and never past its deadline (cloud/describe_pump.py).
        a = cfg.alerts
        self.pump = DescribePump(lambda call: call.describe(self.engine), capacity=a.describe_queue_size, concurrency=a.describe_concurrency,
                                 on_result=self._described, on_failed=self._describe_failed,
                                 on_dropped=self._describe_dropped)
        # (edge, camera, event) that sent full-quality evidence; the others are asked for it.
        self._evidence_seen: RecentSet[tuple[str, str, str]] = RecentSet(MAX_EVIDENCE_EVENTS)

    # -- authentication ---------------------------------------------------
    def _authorised(self, hello: pb.Hello) -> bool:
        return self.tokens.verify(hello.edge_id, hello.auth_token)

    def revoke_stale_sessions(self) -> int:
        """End the streams of edges whose token was revoked or changed; returns how many."""
        digests = self.tokens.digests
        n = 0
        for session, (edge_id, digest, out) in list(self._sessions.items()):
            if digests.get(edge_id) != digest:
                log.warning("edge %s: token revoked, ending session %s", short(edge_id), session)
                out.put_nowait(REVOKED)
                del self._sessions[session]
                n += 1
        return n

    async def Stream(self, request_iterator: AsyncIterator[pb.EdgeMessage], context) -> AsyncIterator[pb.CloudMessage]:
        timeout = self.cfg.server.hello_timeout_s
        try:
            first = await asyncio.wait_for(anext(request_iterator.__aiter__()), timeout)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            self.stats["hello_timeouts"] += 1
            log.warning("stream from %s closed: no Hello within %gs", short(context.peer()), timeout)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"no Hello within {timeout:g}s")
        if first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "first message must be Hello with edge_id and auth_token")
        hello = first.hello
        if len(hello.edge_id) > MAX_ID_CHARS or len(hello.auth_token) > MAX_TOKEN_CHARS:
            self.stats["auth_rejected"] += 1
            log.warning("rejected edge %r: edge_id or token over the length limit", short(hello.edge_id))
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"edge_id longer than {MAX_ID_CHARS} characters "
                                f"or token longer than {MAX_TOKEN_CHARS}")
        if not self._authorised(hello):
            self.stats["auth_rejected"] += 1
            log.warning("rejected edge %r: unknown edge id or wrong token", hello.edge_id)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"unknown edge id or wrong token for edge {hello.edge_id!r}")
        if hello.auth_token == DEMO_TOKEN:
            log.warning("edge %s authenticated with the public demo token: replace it (vigil-cloud --new-token)",
                        short(hello.edge_id))
        session = uuid.uuid4().hex[:12]
        log.info("edge %s connected (agent %s, %d cameras, session %s)", hello.edge_id, hello.agent_version,
                 len(hello.cameras), session)
        self.stats["sessions"] += 1
        out: asyncio.Queue[pb.CloudMessage | None] = asyncio.Queue()
        await out.put(pb.CloudMessage(welcome=pb.Welcome(session_id=session, server_version=__version__,
                                                          max_message_bytes=self.cfg.server.max_packet_bytes)))
        self.observer.on_hello(hello.edge_id, [(c.camera_id, c.name) for c in hello.cameras])
        self.live_relay.attach(hello.edge_id, [c.camera_id for c in hello.cameras], out)

        async def read_loop() -> None:
            try:
                async for msg in request_iterator:
                    kind = msg.WhichOneof("body")
                    if kind == "frame":
                        await self._on_frame(hello.edge_id, msg.frame, out)
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
                bp, reason = self._backpressure()
                if bp != last:
                    last = bp
                    await out.put(pb.CloudMessage(hint=pb.Hint(backpressure=bp, reason=reason)))

        reader = asyncio.create_task(read_loop())
        hinter = asyncio.create_task(hint_loop())
        self._sessions[session] = (hello.edge_id, self.tokens.digests.get(hello.edge_id, ""), out)
        try:
            while True:
                msg = await out.get()
                if msg is None:
                    break
                if msg is REVOKED:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "token revoked")
                yield msg
        finally:
            self._sessions.pop(session, None)
            hinter.cancel()
            reader.cancel()
            self.observer.on_disconnect(hello.edge_id)
            self.live_relay.detach(hello.edge_id, out)
            log.info("edge %s disconnected (session %s)", hello.edge_id, session)

    def _backpressure(self) -> tuple[float, str]:
        """What every Hint says about load (an edge takes each Hint's value, so all of them carry it)."""
        engine_bp = max(float(self.engine.backpressure()), self.pump.pressure())
        ingest_bp = self.admission.pressure()
        return round(max(engine_bp, ingest_bp), 2), ("engine queue" if engine_bp >= ingest_bp else "ingest memory budget")

    # -- packets ----------------------------------------------------------
    @staticmethod
    def _error(pkt: pb.FramePacket | None, code: str, message: str) -> pb.CloudMessage:
        return pb.CloudMessage(error=pb.PacketError(camera_id=pkt.camera_id if pkt else "",
                                                    sequence=pkt.sequence if pkt else 0,
                                                    run_id=pkt.run_id if pkt else "",
                                                    code=code, message=message))

    async def _on_frame(self, edge_id: str, pkt: pb.FramePacket, out: asyncio.Queue) -> None:
        now = time.time()
        size = pkt.ByteSize()
        self.stats["packets"] += 1
        self.stats["bytes"] += size
        limit = self.cfg.server.max_packet_bytes
        if size > limit:
            self.stats["oversized"] += 1
            out.put_nowait(self._error(pkt, "OVERSIZED", f"packet of {size} bytes exceeds max_packet_bytes={limit}"))
            return
        bad = check_packet(pkt)
        if bad is not None:
            self.stats["invalid"] += 1
            out.put_nowait(self._error(pkt, bad.code, bad.message))
            return
        decision = self.admission.decide(alert_bearing(pkt), size)
        if decision.verdict is Verdict.SHED:
            # Refused before any work: acknowledged as shed, so the edge neither resends it nor waits.
            self.stats["context_shed"] += 1
            out.put_nowait(self._ack(pkt, now, size, duplicate=False, admission=decision.verdict.value))
            return
        degraded = decision.verdict is Verdict.DEGRADE
        self.admission.hold(size)
        try:
            await self._admit(edge_id, pkt, now, size, out, degraded)
        finally:
            self.admission.release(size)

    async def _admit(self, edge_id: str, pkt: pb.FramePacket, now: float, size: int, out: asyncio.Queue,
                     degraded: bool = False) -> None:
        """A well-formed, admitted packet from an authenticated edge: de-duplicate, process, commit,
        acknowledge; `degraded`: decode its image at reduced resolution (admission past the budget).
        (The scale-out gateway overrides this: it queues the packet for workers instead.)"""
        key = (edge_id, pkt.camera_id, pkt.sequence, pkt.run_id)
        if not self.seen.check_and_add(*key):
            self.stats["duplicates"] += 1
            out.put_nowait(self._ack(pkt, now, size, duplicate=True))
            return
        self.observer.on_packet(edge_id, pkt.camera_id, size)
        limited = pkt.priority != pb.ALERT_METADATA and not self.limiter.allow(edge_id, size, now)
        if limited:
            self.stats["rate_limited"] += 1
            out.put_nowait(self._error(pkt, "RATE_LIMITED", "over this edge's rate limit: frame not decoded "
                                       "(its alert, if any, is raised)"))
        try:
            image = None if limited else await self._image(edge_id, pkt, out, degraded)
            self._accept(edge_id, pkt, image, out)
        except asyncio.CancelledError:
            # The session ended while the frame was decoding (the edge gave up on the link, or the link
            # flushed this packet just before closing): nothing was kept and no Ack went out, so the
            # edge resends it on its next session. Forget it, or that resend would be Acked as a
            # duplicate of a packet this cloud never kept and its alert never described.
            self.seen.forget(*key)
            self.stats["cut_off_by_session_end"] += 1
            log.info("packet %s/%d from %s cut off by the end of its session: not kept, the edge resends it",
                     short(pkt.camera_id), pkt.sequence, short(edge_id))
            raise
        except Exception:
            # Not committed: forget the packet so the edge's resend is processed, and do not Ack it.
            self.seen.forget(*key)
            self.stats["internal_errors"] += 1
            log.exception("packet %s/%d from %s not accepted", short(pkt.camera_id), pkt.sequence, short(edge_id))
            out.put_nowait(self._error(pkt, "INTERNAL", "the cloud could not store this packet; it will be resent"))
            return
        degraded = degraded and image is not None   # only a decoded image can be held at reduced resolution
        if degraded:
            self.stats["frames_degraded"] += 1
        out.put_nowait(self._ack(pkt, now, size, duplicate=False, admission="degraded" if degraded else ""))

    @staticmethod
    def _ack(pkt: pb.FramePacket, now: float, size: int, *, duplicate: bool, admission: str = "") -> pb.CloudMessage:
        return pb.CloudMessage(ack=pb.Ack(camera_id=pkt.camera_id, sequence=pkt.sequence, run_id=pkt.run_id,
                                          receive_time=now, bytes=size, edge_sent_time=pkt.sent_time,
                                          duplicate=duplicate, admission=admission))

    async def _image(self, edge_id: str, pkt: pb.FramePacket, out: asyncio.Queue,
                     reduced: bool = False) -> np.ndarray | None:
        """The decoded image (RGB, half resolution when ``reduced``), or None with a PacketError sent;
        decoding runs off the event loop."""
        if not pkt.jpeg:
            return None
        bad = check_image(pkt.jpeg, self.cfg.server.max_image_pixels)
        if bad is None and (not pkt.event_id or pkt.priority not in (*DESCRIBABLE, pb.EVIDENCE)):
            return None  # nothing here looks at context pixels: the header check is all the work they get
        if bad is None:
            decode = functools.partial(decode_jpeg, reduced=True) if reduced else decode_jpeg
            image = await asyncio.get_running_loop().run_in_executor(self._decoder, decode, pkt.jpeg)
            if image is None:
                bad_code, bad_msg = "CORRUPT_JPEG", f"jpeg of {len(pkt.jpeg)} bytes could not be decoded"
            else:
                return image
        else:
            bad_code, bad_msg = bad.code, bad.message
        self.stats["corrupt_jpeg" if bad_code == "CORRUPT_JPEG" else "rejected_image"] += 1
        log.warning("%s from %s/%s seq %d: %s", bad_code, short(edge_id), short(pkt.camera_id), pkt.sequence, bad_msg)
        out.put_nowait(self._error(pkt, bad_code, bad_msg))
        return None

    def _accept(self, edge_id: str, pkt: pb.FramePacket, image: np.ndarray | None, out: asyncio.Queue) -> None:
        """Drive the alert of an event packet (its stages are committed when this returns)."""
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
        if image is not None:  # the JPEG as sent is kept, whatever resolution it was decoded at
            width, height = jpeg_dimensions(pkt.jpeg) or (image.shape[1], image.shape[0])
            self.observer.on_event_image(aid, pb.PriorityClass.Name(pkt.priority).lower(), pkt.jpeg, width, height)
        # Describe from the frame meant for the model (an alert thumbnail or evidence is not). While the
        # event waits for the model, a newer frame of it replaces the queued one; once its description
        # is out (the alert closed), later frames add nothing to describe.
        if image is not None and pkt.priority in DESCRIBABLE and self.alerts.is_open(aid):
            self._queue_description(aid, edge_id, pkt, image, out)

    @staticmethod
    def _hints_dict(pkt: pb.FramePacket) -> dict:
        h = pkt.hints
        return {"counts": dict(h.counts), "zone": h.zone, "dwell_seconds": h.dwell_seconds,
                "camera_name": h.camera_name, "severity": h.severity, "rule": h.rule, "event_stage": h.event_stage}

    def _queue_description(self, aid: str, edge_id: str, pkt: pb.FramePacket, image: np.ndarray,
                           out: asyncio.Queue) -> None:
        from cloud.engine.request import DescribeRequest  # engine package may be heavy; import lazily
        now = time.time()
        deadline = self.alerts.deadline_of(aid) or now + self.alerts.describe_deadline_s
        req = DescribeRequest(request_id=aid, camera_id=pkt.camera_id, event_id=pkt.event_id, images=[image],
                              detections=boxes_in_image(pkt, image.shape[1], image.shape[0]),
                              hints=self._hints_dict(pkt), severity=float(pkt.hints.severity), deadline=deadline)
        self.pump.submit(DescribeJob(key=aid, severity=req.severity, deadline=deadline, arrival=now,
                                     payload=_DescribeCall(req, edge_id, pkt, out, self)))

    def _described(self, job: DescribeJob, result) -> None:
        call: _DescribeCall = job.payload
        status, text = record_description(self.alerts, self.stats, job.key, result=result)
        log.info("described alert %s: %s, %d+%d visual/%d prompt tokens, %d generated, queue %.0f ms, "
                 "prefill %.0f ms, decode %.0f ms", job.key, status, result.visual_tokens,
                 result.visual_tokens_before_prune, result.prompt_tokens, result.generated_tokens,
                 result.queue_ms, result.prefill_ms, result.decode_ms)
        self._send_result(call, job.key, status, text)
        self._follow_up(self._ask_evidence(call))

    def _describe_failed(self, job: DescribeJob, error: Exception) -> None:
        status, text = record_description(self.alerts, self.stats, job.key, error=error)
        self._send_result(job.payload, job.key, status, text)

    def _describe_dropped(self, job: DescribeJob, reason: str) -> None:
        """A job left unserved: its alert is a ``timeout`` with ``reason`` (one WARNING, no traceback)."""
        call: _DescribeCall = job.payload
        self.stats[f"describe_{reason}"] += 1
        q = self.pump.stats()
        detail = (f"describe queue full ({q['depth']} waiting, {q['running']} describing): a more important "
                  "event took its place" if reason == "overloaded" else
                  "its deadline passed before the model could describe it")
        if not self.alerts.on_timeout(job.key, reason, detail):
            return  # the alert had already timed out (the expiry loop got there first)
        log.warning("no description for alert %s (camera %s, event %s): %s: %s", job.key,
                    short(call.pkt.camera_id), short(call.pkt.event_id), reason, detail)
        self._send_result(call, job.key, "timeout", "")
        if reason == "overloaded":   # tell the edge now, not at the next periodic Hint
            bp, _ = self._backpressure()
            call.out.put_nowait(pb.CloudMessage(hint=pb.Hint(backpressure=bp, reason=f"describe queue full: "
                                                             f"{self.stats['describe_overloaded']} events shed")))

    @staticmethod
    def _send_result(call: "_DescribeCall", aid: str, status: str, text: str) -> None:
        call.out.put_nowait(pb.CloudMessage(result=pb.Result(event_id=call.pkt.event_id, camera_id=call.pkt.camera_id,
                                                             alert_id=aid, description_json=text,
                                                             description_status=status)))

    def _follow_up(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._describe_tasks.add(task)
        task.add_done_callback(self._describe_tasks.discard)

    async def _ask_evidence(self, call: "_DescribeCall") -> None:
        """The alert is out; make sure the user also gets the full-quality key frame (after a grace
        period, so evidence already on its way is not asked for twice)."""
        edge_id, pkt = call.edge_id, call.pkt
        await asyncio.sleep(self.cfg.server.evidence_request_after_s)
        if (edge_id, pkt.camera_id, pkt.event_id) not in self._evidence_seen:
            self.stats["evidence_requested"] += 1
            bp, _ = self._backpressure()
            call.out.put_nowait(pb.CloudMessage(hint=pb.Hint(evidence_event_ids=[pkt.event_id], backpressure=bp,
                                                             reason="evidence for a described alert")))

    def close(self) -> None:
        self.pump.close()
        self._decoder.shutdown(wait=False, cancel_futures=True)

    async def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait for the descriptions being computed (queued ones finish or time out with their alerts)."""
        return await self.pump.wait_idle(timeout_s)


class _DescribeCall:
    """What answering one description needs: the request, and the edge stream to tell."""

    def __init__(self, req, edge_id: str, pkt: pb.FramePacket, out: asyncio.Queue, service: IngestService):
        self.req, self.edge_id, self.pkt, self.out = req, edge_id, pkt, out
        self._service = service

    async def describe(self, engine):
        image = self.req.images[0]
        held = image.nbytes   # counted against the admission budget while the model works on it
        self._service.admission.hold(held)
        try:
            return await engine.describe(self.req)
        finally:
            self._service.admission.release(held)


class CloudService:
    """Owns the gRPC server, the engine and the alert pipeline."""

    def __init__(self, cfg: CloudConfig, engine=None, sinks=None):
        self.cfg = cfg
        if engine is None:
            engine = build_engine(cfg.engine)
        self.engine = engine
        a = cfg.alerts
        for token in cfg.auth.tokens.values():
            register_secret(token)
        self.tokens = TokenStore(cfg.auth.tokens, cfg.auth.token_file)
        if sinks is None:
            sinks = build_routes(a)
        elif not sinks:
            log.warning("no alert sinks configured (alerts.webhooks and alerts.mqtt are empty): alerts are only logged")
        if a.outbox_path is None:
            log.warning("alerts.outbox_path is null: the outbox is in memory, alerts do not survive a restart")
        self.outbox = Outbox(a.outbox_path, a.outbox_synchronous)
        policy = retry_policy(a)
        self.dispatcher = Dispatcher(self.outbox, sinks, policy)
        self.alerts = AlertManager(self._emit, describe_deadline_s=a.describe_deadline_s,
                                   retain_s=ALERT_MEMORY_S, lookup=self.outbox.latest_stage)
        restored = self.alerts.restore(self.outbox.open_alerts())
        if restored:
            log.info("outbox: %d alerts left open by the previous process; they finish here", restored)
        self.store = EventStore.from_config(cfg.store)
        self.live = LiveState(self.store)
        self.metrics = CloudMetrics()
        self.service = IngestService(cfg, MeteredEngine(self.engine, self.metrics), self.alerts, self.tokens,
                                     observer=self.live)
        self.metrics.watch(self, self.live, self.store)
        self.api: ApiServer | None = None
        self.emitted: Counter[str] = Counter()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self.health = CloudHealth()
        self.model_loaded: asyncio.Task | None = None   # done when the model is up; its exception if it failed

    def _emit(self, alert) -> None:
        alert.links = event_links(self.cfg.api.public_url, alert.alert_id)
        try:
            self.store.record_alert(alert)
        except sqlite3.Error:  # the operator view may lag; the alert itself must still go out
            log.exception("event store: could not record alert %s %s", alert.alert_id, alert.stage)
        self.dispatcher.submit(alert)  # committed when this returns (raises if it could not be)
        self.emitted[alert.stage] += 1
        if alert.stage == "described":
            self.emitted[f"described_{alert.description_status}"] += 1
        log.info("alert %s %s camera=%s event=%s%s", alert.alert_id, alert.stage, short(alert.camera_id),
                 short(alert.event_id), f" status={alert.description_status}" if alert.stage == "described" else "")

    async def start(self) -> int:
        s = self.cfg.server
        self._server, self.port = open_grpc_server(s, self.service, self.health)
        if hasattr(self.engine, "start"):
            self.engine.start()
        await self.health.set_serving(False)
        await self._server.start()
        self.dispatcher.start()
        self.model_loaded = asyncio.create_task(self.health.follow_engine(self.engine))
        self._tasks = [asyncio.create_task(self._expire_loop()), asyncio.create_task(self._housekeeping_loop()),
                       asyncio.create_task(self._token_loop()), asyncio.create_task(self._retention_loop())]
        if self.cfg.api.enabled:
            app = make_app(self.store, tokens=self.cfg.api.tokens, live=self.live, ready=self.ready,
                           render_metrics=self.metrics.render, keepalive_s=self.cfg.api.stream_keepalive_s,
                           live_relay=self.service.live_relay, live_timeout_s=self.cfg.api.live_answer_timeout_s,
                           deliveries=self.outbox.deliveries_of)
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

    async def _token_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.auth.reload_interval_s)
            if self.tokens.reload_if_changed():
                self.service.revoke_stale_sessions()

    async def _housekeeping_loop(self) -> None:
        while True:
            self.outbox.forget_delivered(self.cfg.alerts.retain_delivered_s)
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

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

    async def shutdown(self, timeout_s: float, grace_s: float = 1.0) -> bool:
        """SIGTERM: stop taking packets, give descriptions and deliveries ``timeout_s``, keep the rest durable."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        if self._server:
            await self._server.stop(grace_s)
        await self.service.wait_idle(max(0.0, end - loop.time()))
        drained = await self.dispatcher.drain(max(0.0, end - loop.time()))
        left, still_open = self.dispatcher.pending(), self.alerts.open_count
        if left or still_open:
            log.warning("shutdown after %.1fs: %d deliveries stay in the outbox and %d alerts stay open; "
                        "the next start sends and finishes them", timeout_s, left, still_open)
        else:
            log.info("shutdown: every alert stage delivered")
        await self.stop(grace_s)
        return drained

    async def stop(self, grace_s: float = 1.0) -> None:
        for t in self._tasks:
            t.cancel()
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
        self.service.close()
        self.outbox.close()
        self.store.close()
