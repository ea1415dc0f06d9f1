"""The cloud's gRPC ingest service (grpc.aio): what every edge meets.

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
field sizes (cloud/ingest/packet_limits.py), image pixels read from the JPEG header
before decoding, decoding itself on a worker thread (never on the event loop),
and a stream that does not say Hello within ``hello_timeout_s`` is closed. Memory is bounded under
overload twice over: each edge's HTTP/2 window is fixed (``stream_window_bytes``), so the transport
buffers a bounded amount per edge, and the frames the ingest holds are admitted against a byte
budget that sheds context first and never an alert (cloud/ingest/admission.py).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Awaitable, Callable

import grpc
import numpy as np

from cloud.alerts.manager import AlertManager
from cloud.answer.describe import DESCRIBABLE, describe_event
from cloud.answer.describe_pump import QueuedEngine
from cloud.answer.redescribe import Redescriber
from cloud.answer.redescribe_policy import RedescribeRule
from cloud.answer.packet_facts import boxes_in_image
from cloud.api.live import IngestObserver
from cloud.api.live_relay import LiveRelay
from cloud.config import DEMO_TOKEN, CloudConfig
from cloud.ingest.admission import AdmissionBudget, Verdict
from cloud.ingest.auth import TokenStore
from cloud.ingest.dedup import SeenWindow
from cloud.ingest.packet_limits import MAX_ID_CHARS, check_image, check_packet, jpeg_dimensions, short
from cloud.ingest.packets import (ack_message, alert_bearing, decode_jpeg, error_message,
                                  result_message)
from cloud.ingest.rate_limit import EdgeRateLimiter
from cloud.store.events import image_kind
from vigil import __version__
from vigil.recent import RecentSet
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

log = logging.getLogger("vigil.cloud")

MAX_TOKEN_CHARS = 512    # a token is a secret, not a payload
REVOKED = object()  # queued to a session whose edge lost its token
# Events remembered as having sent evidence; far more than are ever open at once.
MAX_EVIDENCE_EVENTS = 10_000


class IngestService(pb_grpc.IngestServicer):
    def __init__(self, cfg: CloudConfig, engine, alerts: AlertManager, tokens: TokenStore | None = None,
                 observer: IngestObserver | None = None):
        self.cfg = cfg
        self.observer = observer or IngestObserver()
        self.live_relay = LiveRelay()
        # Which event the model describes next, and never past its deadline (cloud/answer/describe_pump.py).
        self.engine = QueuedEngine(engine, capacity=cfg.alerts.describe_queue_size,
                                   concurrency=cfg.alerts.describe_concurrency)
        self.alerts = alerts
        self.tokens = tokens or TokenStore(cfg.auth.tokens, cfg.auth.token_file)
        s = cfg.server
        self.limiter = EdgeRateLimiter(s.rate_limit_packets_per_s, s.rate_limit_bytes_per_s, s.rate_limit_burst_s)
        # session id -> (edge id, token digest it authenticated with, its outgoing queue)
        self._sessions: dict[str, tuple[str, str, asyncio.Queue]] = {}
        self.seen = SeenWindow(cfg.server.dedup_window)
        # Packets being processed, by dedup key -> whether they were kept. A copy that arrives meanwhile (the
        # edge resent it on a new session) waits for the first copy's outcome instead of being acked as a
        # duplicate of a packet that may yet be cut off and never kept.
        self._in_flight: dict[tuple, asyncio.Future] = {}
        self.admission = AdmissionBudget(s.admission_budget_bytes, s.admission_context_share)
        self._decoder = ThreadPoolExecutor(max_workers=cfg.server.decode_threads, thread_name_prefix="vigil-jpeg")
        self.stats: Counter[str] = Counter()
        r = cfg.alerts.redescribe
        self.redescriber = Redescriber(alerts, self.engine, self.stats, RedescribeRule(
            on_escalation=r.on_escalation, on_end=r.on_end, min_quality_gain=r.min_quality_gain))
        self._describe_tasks: set[asyncio.Task] = set()
        # (edge, camera, event) that sent full-quality evidence; the others are asked for it.
        self._evidence_seen: RecentSet[tuple[str, str, str]] = RecentSet(MAX_EVIDENCE_EVENTS)
        # Set by the process root (cloud/storage_fault.py): why packets cannot be kept now ('' when they
        # can), and the hook that turns a write error into that state (True when it was a storage fault).
        self.refusal: Callable[[], str] = lambda: ""
        self.storage_error: Callable[[Exception], bool] = lambda exc: False

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
                    elif kind == "heartbeat":
                        self.observer.on_camera_health(hello.edge_id, list(msg.heartbeat.cameras))
                    elif kind == "hello":
                        await out.put(error_message(None, "INVALID", "Hello sent twice on one stream; ignored"))
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
        """What every Hint says about load (an edge takes each Hint's value, so all of them carry it).
        While the cloud cannot write its stores, every packet is refused: the hint says so (saturated),
        so edges thin their context frames instead of sending what will be refused and resent."""
        storage = self.refusal()
        if storage:
            return 1.0, f"cloud storage cannot write ({storage})"
        engine_bp, ingest_bp = float(self.engine.backpressure()), self.admission.pressure()
        return round(max(engine_bp, ingest_bp), 2), ("engine queue" if engine_bp >= ingest_bp else "ingest memory budget")

    # -- packets ----------------------------------------------------------
    async def _on_frame(self, edge_id: str, pkt: pb.FramePacket, out: asyncio.Queue) -> None:
        now = time.time()
        size = pkt.ByteSize()
        self.stats["packets"] += 1
        self.stats["bytes"] += size
        limit = self.cfg.server.max_packet_bytes
        if size > limit:
            self.stats["oversized"] += 1
            out.put_nowait(error_message(pkt, "OVERSIZED", f"packet of {size} bytes exceeds max_packet_bytes={limit}"))
            return
        bad = check_packet(pkt)
        if bad is not None:
            self.stats["invalid"] += 1
            out.put_nowait(error_message(pkt, bad.code, bad.message))
            return
        why = self.refusal()
        if why:   # the disk cannot keep it: not acknowledged, so the edge keeps it and sends it again
            self.stats["refused_storage"] += 1
            out.put_nowait(error_message(pkt, "INTERNAL", f"cloud storage cannot write ({why}); "
                                                         "not kept, send it again later"))
            return
        decision = self.admission.decide(alert_bearing(pkt), size)
        if decision.verdict is Verdict.SHED:
            # Refused before any work: acknowledged as shed, so the edge neither resends it nor waits.
            self.stats["context_shed"] += 1
            out.put_nowait(ack_message(pkt, now, size, duplicate=False, admission=decision.verdict.value))
            return
        degraded = decision.verdict is Verdict.DEGRADE
        self.admission.hold(size)
        try:
            await self.admit(edge_id, pkt, now, size, out, degraded)
        finally:
            self.admission.release(size)

    async def admit(self, edge_id: str, pkt: pb.FramePacket, now: float, size: int, out: asyncio.Queue,
                     degraded: bool = False) -> None:
        """A well-formed, admitted packet from an authenticated edge: de-duplicate, process, commit,
        acknowledge; `degraded`: decode its image at reduced resolution (admission past the budget).
        (The scale-out gateway overrides this: it queues the packet for workers instead.)"""
        key = (edge_id, pkt.camera_id, pkt.sequence, pkt.run_id)
        while (first := self._in_flight.get(key)) is not None:
            await asyncio.shield(first)       # kept or forgotten: the dedup window below then says which
        if not self.seen.check_and_add(*key):
            self.stats["duplicates"] += 1
            out.put_nowait(ack_message(pkt, now, size, duplicate=True))
            return
        settled = asyncio.get_running_loop().create_future()
        self._in_flight[key] = settled
        try:
            await self._process(key, edge_id, pkt, now, size, out, degraded)
        finally:
            self._in_flight.pop(key, None)
            settled.set_result(None)

    async def _process(self, key: tuple, edge_id: str, pkt: pb.FramePacket, now: float, size: int,
                       out: asyncio.Queue, degraded: bool) -> None:
        """A packet seen for the first time: decode, accept (commit), acknowledge; on failure or cut-off,
        forget its key so the edge's resend is processed."""
        self.observer.on_packet(edge_id, pkt.camera_id, size)
        limited = pkt.priority != pb.ALERT_METADATA and not self.limiter.allow(edge_id, size, now)
        if limited:
            self.stats["rate_limited"] += 1
            out.put_nowait(error_message(pkt, "RATE_LIMITED", "over this edge's rate limit: frame not decoded "
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
        except Exception as exc:
            # Not committed: forget the packet so the edge's resend is processed, and do not Ack it.
            self.seen.forget(*key)
            self.stats["internal_errors"] += 1
            if not self.storage_error(exc):   # a storage fault is said by the storage state, once a minute
                log.exception("packet %s/%d from %s not accepted", short(pkt.camera_id), pkt.sequence, short(edge_id))
            out.put_nowait(error_message(pkt, "INTERNAL", "the cloud could not store this packet; it will be resent"))
            return
        degraded = degraded and image is not None   # only a decoded image can be held at reduced resolution
        if degraded:
            self.stats["frames_degraded"] += 1
        out.put_nowait(ack_message(pkt, now, size, duplicate=False, admission="degraded" if degraded else ""))

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
        out.put_nowait(error_message(pkt, bad_code, bad_msg))
        return None

    def _accept(self, edge_id: str, pkt: pb.FramePacket, image: np.ndarray | None, out: asyncio.Queue) -> None:
        """Drive the alert of an event packet (its stages are committed when this returns)."""
        if not pkt.event_id or pkt.priority == pb.CONTEXT:
            self.stats["context_frames"] += 1
            return
        if pkt.priority == pb.EVIDENCE and image is not None:
            self._evidence_seen.add((edge_id, pkt.camera_id, pkt.event_id))
        aid, describing = describe_event(self.alerts, self.engine, self.stats, edge_id, pkt, image)
        if describing is None and image is not None and pkt.priority in DESCRIBABLE:
            self.redescriber.offer(aid, pkt, image)   # an escalation or the end's best frame, perhaps
        if image is not None:  # the JPEG as sent is kept, whatever resolution it was decoded at
            width, height = jpeg_dimensions(pkt.jpeg) or (image.shape[1], image.shape[0])
            kind = image_kind(pb.PriorityClass.Name(pkt.priority).lower(), pkt.hints.event_stage)
            self.observer.on_event_image(aid, kind, pkt.jpeg, width, height, boxes_in_image(pkt, width, height))
        if describing is not None:
            task = asyncio.get_running_loop().create_task(
                self._describe(aid, edge_id, pkt, image.nbytes, describing, out))
            self._describe_tasks.add(task)
            task.add_done_callback(self._describe_tasks.discard)

    async def _describe(self, aid: str, edge_id: str, pkt: pb.FramePacket, held: int,
                        describing: Callable[[], Awaitable[tuple[str, str]]], out: asyncio.Queue) -> None:
        """Await the description (its image, ``held`` bytes, counted against the admission budget until
        the model is done with it), send the edge its Result, then ask for evidence if none came."""
        self.admission.hold(held)
        try:
            status, text = await describing()
        finally:
            self.admission.release(held)
        self.redescriber.first_done(aid)   # an escalation that came while it was computed, perhaps
        out.put_nowait(result_message(pkt, aid, status, text))
        if status == "timeout":   # shed or too late: tell the edge now, not at the next periodic Hint
            bp, _ = self._backpressure()
            q = self.engine.queue_stats()
            out.put_nowait(pb.CloudMessage(hint=pb.Hint(backpressure=bp, reason=(
                f"describe queue: {q['shed']} events shed, {q['late']} past their deadline"))))
        # The alert is out; make sure the user also gets the full-quality key frame (after a grace
        # period, so evidence already on its way is not asked for twice). The decoded image is not
        # needed for that wait: drop it, so a burst of alerts does not hold a burst of frames.
        describing = None  # noqa: F841
        await asyncio.sleep(self.cfg.server.evidence_request_after_s)
        if (edge_id, pkt.camera_id, pkt.event_id) not in self._evidence_seen:
            self.stats["evidence_requested"] += 1
            bp, _ = self._backpressure()
            out.put_nowait(pb.CloudMessage(hint=pb.Hint(evidence_event_ids=[pkt.event_id], backpressure=bp,
                                                        reason="evidence for a described alert")))

    def deliver_reply(self, edge_id: str, msg: pb.CloudMessage) -> int:
        """Hand ``msg`` to every session of ``edge_id`` this service holds; how many took it."""
        n = 0
        for eid, _, out in list(self._sessions.values()):
            if eid == edge_id:
                out.put_nowait(msg)
                n += 1
        return n

    def close(self) -> None:
        self.redescriber.close()
        self.engine.close()
        self._decoder.shutdown(wait=False, cancel_futures=True)

    async def wait_idle(self, timeout_s: float | None = None) -> bool:
        tasks = list(self._describe_tasks) + self.redescriber.tasks()
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending
