"""The edge's gRPC client: one bidirectional stream to the cloud.

It opens the stream with a Hello, then asks the transmission policy for the
next packet whenever the link can take one, and feeds every Ack and Hint back
to the policy. When the stream breaks it tells the policy (which requeues
what was not acknowledged) and reconnects with backoff and jitter. A wrong
token is final: the client stops with a clear error instead of retrying.

A link that goes down rarely breaks a TCP connection quickly: the kernel keeps
retransmitting for minutes while writes block. A watchdog therefore ends the
session when packets are outstanding and no Ack has come for
``stall_timeout_s`` (counted from the later of the last message from the cloud
and the first packet sent with nothing outstanding; or no Welcome within
``connect_timeout_s``); the policy is
told, spools, and the client reconnects. Acks, not HTTP/2 pings, are the
signal because pings queue behind the data a saturated uplink is carrying.

An unreachable cloud (DNS, refused, TLS) is said once, in one WARNING naming the cause, and
retried with backoff; repeats are DEBUG with a reminder now and then (edge/link_report.py). So
are frames the cloud's admission control shed or degraded under overload: a shed Ack is an Ack
(the frame is not resent) and is counted. A packet the cloud refused without keeping it
(OVERLOADED, INTERNAL) goes back to the policy, which sends it again, same key, after a backoff
(edge/transmit/retry.py), on the same session.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import Awaitable, Callable

import grpc

from edge.link_config import CloudLinkConfig
from edge.link_report import AdmissionReporter, LinkReporter
from edge.transmit.base import TransmissionPolicy, ack_key
from edge.transmit.retry import RETRYABLE_CODES, RefusalBackoff
from vigil import __version__
from vigil.backoff import backoff_delay
from vigil.link_security import host_of, plaintext_allowed
from vigil.recent import RecentSet
from vigil.redact import register_secret
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

log = logging.getLogger("vigil.edge.client")

TRANSPORT_HEADROOM = 1024 * 1024  # gRPC frame overhead above our own packet limit
STALL_TIMEOUT_S = 8.0    # > the longest single packet at 256 kbit/s (a ~100 kB full-quality frame: ~3 s)
CONNECT_TIMEOUT_S = 5.0  # Hello -> Welcome
WATCHDOG_PERIOD_S = 0.25
GRPC_RECONNECT_BACKOFF_MS = 500  # gRPC's own retry inside one session; sessions back off in run()
# Per-process bookkeeping must not grow with uptime (stats count everything):
MAX_KEPT_REPLIES = 1000      # latest Results and PacketErrors kept for inspection
MAX_TRACKED_EVENTS = 10_000  # events remembered as awaiting or having a description
ADMISSION_STATUSES = ("shed", "degraded")  # Ack.admission values counted by name (others as "other")


class AuthenticationError(RuntimeError):
    """The cloud rejected this edge's id or token."""


def channel_credentials(cfg: CloudLinkConfig) -> grpc.ChannelCredentials | None:
    """TLS credentials for ``cloud.tls``; None for plaintext, which only loopback or ``plaintext: true`` allows."""
    if cfg.tls is None:
        allowed, why = plaintext_allowed(host_of(cfg.target), cfg.plaintext)
        if not allowed:
            raise LinkConfigError(f"cloud {cfg.target}: {why}")
        if why == "plaintext: true":
            log.warning("PLAINTEXT link to %s: this edge's token and frames cross the network unencrypted "
                        "(cloud.plaintext is set; configure cloud.tls)", cfg.target)
        return None
    t = cfg.tls
    try:
        ca = t.ca_file.read_bytes() if t.ca_file else None
        key = t.key_file.read_bytes() if t.key_file else None
        cert = t.cert_file.read_bytes() if t.cert_file else None
    except OSError as exc:
        raise LinkConfigError(f"cloud.tls: cannot read {exc.filename}: {exc.strerror}") from None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


class LinkConfigError(ValueError):
    """The link to the cloud is configured in a way this edge refuses to run."""


class EdgeClient:
    def __init__(self, cfg: CloudLinkConfig, policy: TransmissionPolicy, cameras: list[pb.CameraInfo],
                 capabilities: tuple[str, ...] = (), on_result: Callable[[pb.Result], None] | None = None,
                 stall_timeout_s: float = STALL_TIMEOUT_S, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 on_ack: Callable[[pb.Ack, float], None] | None = None):
        self.cfg = cfg
        register_secret(cfg.token)
        self._credentials = channel_credentials(cfg)
        self.stall_timeout_s = stall_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.on_ack = on_ack
        self._last_progress = 0.0
        self.policy = policy
        self.cameras = cameras
        self.capabilities = list(capabilities)
        self.on_result = on_result
        self.stats: Counter[str] = Counter()
        self.results: deque[pb.Result] = deque(maxlen=MAX_KEPT_REPLIES)
        self.errors: deque[pb.PacketError] = deque(maxlen=MAX_KEPT_REPLIES)
        self._wake = asyncio.Event()
        self.connected = False
        # Events whose frames went out and whose description has not come back yet.
        self.awaiting_results: RecentSet[str] = RecentSet(MAX_TRACKED_EVENTS)
        self._described: RecentSet[str] = RecentSet(MAX_TRACKED_EVENTS)
        self._drained_since: float | None = None
        # Live view: answers an operator's WebRTC offer (set by the agent); answers go out with the packets.
        self.on_live_offer: Callable[[pb.LiveOffer], Awaitable[pb.LiveAnswer]] | None = None
        self._control: deque[pb.EdgeMessage] = deque()
        self._camera_health: pb.Heartbeat | None = None     # the latest, sent again after every Hello
        self._live_tasks: set[asyncio.Task] = set()
        self.link_report = LinkReporter(cfg.target)
        self._admission_report = AdmissionReporter()
        self._refusals = RefusalBackoff(cfg.refused_retry_initial_s, cfg.refused_retry_max_s)

    def report_cameras(self, cameras: list[pb.CameraHealth]) -> None:
        """Each camera's state for the cloud (call on the client's event loop): sent now if connected,
        and again at the start of every later session, so a restarted cloud learns it too."""
        self._camera_health = pb.Heartbeat(sent_time=time.time(), cameras=cameras)
        if self.connected:
            self._control.append(pb.EdgeMessage(heartbeat=self._camera_health))
            self._wake.set()

    def notify(self) -> None:
        """New work for the policy (call on the client's event loop)."""
        self._wake.set()

    def _hello(self) -> pb.EdgeMessage:
        return pb.EdgeMessage(hello=pb.Hello(edge_id=self.cfg.edge_id, auth_token=self.cfg.token,
                                             agent_version=__version__, cameras=self.cameras,
                                             capabilities=self.capabilities))

    async def run(self, finished: Callable[[], bool]) -> None:
        """Send until ``finished()`` and everything is acknowledged; reconnect on failure."""
        attempt = 0
        while True:
            try:
                done = await self._watched_session(finished)
                attempt = 0
                if done:
                    return
            except AuthenticationError:
                raise
            except (grpc.aio.AioRpcError, ConnectionError, OSError, asyncio.InvalidStateError) as exc:
                code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    raise AuthenticationError(f"cloud {self.cfg.target} rejected edge {self.cfg.edge_id!r}: "
                                              f"{exc.details()}") from None
                details = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            else:
                details = "cloud closed the stream"
            self.connected = False
            self.policy.on_disconnect(time.time())
            attempt += 1
            self.stats["reconnects"] += 1
            delay = backoff_delay(attempt, self.cfg.reconnect_initial_s, self.cfg.reconnect_max_s)
            line = self.link_report.on_failure(details or "", time.time(), delay)
            if line:
                log.warning("%s", line)
            log.debug("cloud link %s attempt %d failed: %s", self.cfg.target, attempt, details)
            await asyncio.sleep(delay)

    async def _watched_session(self, finished: Callable[[], bool]) -> bool:
        """Run one session; end it when the link stalls (see module docstring)."""
        self._last_progress = time.time()
        session = asyncio.ensure_future(self._session(finished))
        try:
            while not session.done():
                await asyncio.wait({session}, timeout=WATCHDOG_PERIOD_S)
                if session.done():
                    break
                quiet = time.time() - self._last_progress
                if not self.connected and quiet > self.connect_timeout_s:
                    reason = f"no Welcome within {self.connect_timeout_s:g}s"
                elif self.connected and self.policy.unacked() > 0 and quiet > self.stall_timeout_s:
                    reason = f"no Ack for {quiet:.1f}s with {self.policy.unacked()} packets outstanding"
                else:
                    continue
                self.stats["stalls"] += 1
                session.cancel()
                try:
                    await session
                except (asyncio.CancelledError, Exception):
                    pass
                raise ConnectionError(f"link stalled: {reason}")
            return session.result()
        finally:
            if not session.done():
                session.cancel()

    async def _session(self, finished: Callable[[], bool]) -> bool:
        limit = self.cfg.max_packet_bytes + TRANSPORT_HEADROOM
        # A fresh subchannel per session: gRPC otherwise shares subchannels between channels to the
        # same target, and their internal connect backoff (up to 120 s) survives our reconnects, so
        # after a long outage the link came back ~20 s before gRPC tried again. Our own backoff rules.
        options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit),
                   ("grpc.use_local_subchannel_pool", 1),
                   ("grpc.initial_reconnect_backoff_ms", GRPC_RECONNECT_BACKOFF_MS),
                   ("grpc.min_reconnect_backoff_ms", GRPC_RECONNECT_BACKOFF_MS),
                   ("grpc.max_reconnect_backoff_ms", GRPC_RECONNECT_BACKOFF_MS)]
        if self._credentials is not None:
            if self.cfg.tls.server_name:
                options.append(("grpc.ssl_target_name_override", self.cfg.tls.server_name))
            channel_cm = grpc.aio.secure_channel(self.cfg.target, self._credentials, options=options)
        else:
            channel_cm = grpc.aio.insecure_channel(self.cfg.target, options=options)
        async with channel_cm as channel:
            stub = pb_grpc.IngestStub(channel)
            call = stub.Stream()
            await call.write(self._hello())
            first = await call.read()
            if first is grpc.aio.EOF:
                await call.wait_for_connection()
                raise ConnectionError("stream closed before Welcome")
            if first.WhichOneof("body") != "welcome":
                raise ConnectionError(f"expected Welcome, got {first.WhichOneof('body')}")
            self.connected = True
            self._last_progress = time.time()
            back = self.link_report.on_connected(self._last_progress)
            if back:
                log.info("%s", back)
            log.info("connected to cloud %s (session %s)", self.cfg.target, first.welcome.session_id)
            if self._camera_health is not None:
                self._control.append(pb.EdgeMessage(heartbeat=self._camera_health))
            reader = asyncio.create_task(self._read_loop(call))
            try:
                while True:
                    if reader.done():
                        reader.result()  # re-raise the stream error
                        raise ConnectionError("cloud closed the stream")
                    while self._control:
                        await call.write(self._control.popleft())
                    now = time.time()
                    was_idle = self.policy.unacked() == 0
                    pkt = self.policy.next_packet(now)
                    if pkt is not None:
                        size = pkt.ByteSize()
                        if size > self.cfg.max_packet_bytes:
                            self.stats["oversized_not_sent"] += 1
                            log.error("packet %s/%d is %d bytes, over max_packet_bytes=%d: not sent",
                                      pkt.camera_id, pkt.sequence, size, self.cfg.max_packet_bytes)
                            continue
                        if was_idle:
                            # The stall clock starts when something is outstanding: a cloud that had
                            # nothing to acknowledge was not silent, and the first packet after a
                            # quiet spell gets stall_timeout_s for its Ack like any other.
                            self._last_progress = max(self._last_progress, now)
                        await call.write(pb.EdgeMessage(frame=pkt))
                        self.stats["packets_sent"] += 1
                        self.stats["bytes_sent"] += size
                        self.stats[f"sent:{pkt.camera_id}"] += 1     # per-camera count for the status line
                        if (pkt.jpeg and pkt.event_id and pkt.event_id not in self._described
                                and pkt.priority in (pb.ALERT_METADATA, pb.SEMANTIC_FRAME)):
                            self.awaiting_results.add(pkt.event_id)
                        continue
                    if self._all_done(finished, now):
                        await call.done_writing()
                        await reader
                        return True
                    self._wake.clear()
                    wait = self.policy.wake_after(now)
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=wait if wait is not None else 0.1)
                    except asyncio.TimeoutError:
                        pass
            finally:
                if not reader.done():
                    reader.cancel()

    async def _answer_live(self, offer: pb.LiveOffer) -> None:
        if self.on_live_offer is None:
            answer = pb.LiveAnswer(request_id=offer.request_id, camera_id=offer.camera_id,
                                   error="live view is disabled on this edge (live.enabled)")
        else:
            answer = await self.on_live_offer(offer)
        self.stats["live_offers"] += 1
        self._control.append(pb.EdgeMessage(live_answer=answer))
        self._wake.set()

    def _all_done(self, finished: Callable[[], bool], now: float) -> bool:
        if not (finished() and self.policy.pending() == 0 and self.policy.unacked() == 0):
            self._drained_since = None
            return False
        if self._drained_since is None:
            self._drained_since = now
        return not self.awaiting_results or now - self._drained_since >= self.cfg.results_grace_s

    async def _read_loop(self, call) -> None:
        while True:
            msg = await call.read()
            if msg is grpc.aio.EOF:
                return
            now = time.time()
            kind = msg.WhichOneof("body")
            self._last_progress = now
            if kind == "ack":
                self.stats["acks"] += 1
                if msg.ack.admission:   # shed or degraded by the cloud's admission control: acked all the same
                    status = msg.ack.admission if msg.ack.admission in ADMISSION_STATUSES else "other"
                    self.stats[f"frames_{status}"] += 1
                    line = self._admission_report.on_ack(status, now)
                    if line:
                        log.warning("%s", line)
                self.policy.on_ack(msg.ack, now)
                self._refusals.forget(ack_key(msg.ack))
                if self.on_ack:
                    self.on_ack(msg.ack, now)
                self._wake.set()
            elif kind == "result":
                self.stats["results"] += 1
                self.results.append(msg.result)
                self.awaiting_results.discard(msg.result.event_id)
                self._described.add(msg.result.event_id)
                self._wake.set()
                if self.on_result:
                    self.on_result(msg.result)
            elif kind == "hint":
                self.policy.on_hint(msg.hint, now)
                self._wake.set()
            elif kind == "live_offer":
                task = asyncio.create_task(self._answer_live(msg.live_offer))
                self._live_tasks.add(task)
                task.add_done_callback(self._live_tasks.discard)
            elif kind == "error":
                self.stats["packet_errors"] += 1
                self.errors.append(msg.error)
                err = msg.error
                if err.code in RETRYABLE_CODES:    # not kept: send the same packet again, after a backoff
                    key = (err.camera_id, err.run_id, err.sequence)
                    delay = self._refusals.delay(key)
                    self.stats["packets_refused"] += 1
                    self.policy.on_refused(key, now, now + delay)
                    self._wake.set()
                    log.warning("cloud refused %s/%d (%s: %s); sending it again in %.1fs", err.camera_id,
                                err.sequence, err.code, err.message, delay)
                else:
                    log.warning("cloud rejected %s/%d: %s %s", err.camera_id, err.sequence, err.code, err.message)
