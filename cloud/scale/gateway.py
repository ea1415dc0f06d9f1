"""`vigil-cloud --role gateway`: the edges' gRPC endpoint in scale-out mode; no model, no outbox.

Everything an edge meets is the single process's (cloud/ingest/service.py's ``IngestService``): Hello and
token checks, TLS, packet and image limits (the JPEG header only: decoding is a worker's job),
per-edge rate limits, a PacketError for every refusal. What changes is acceptance: an event packet
is acknowledged once it is in the Redis job stream (``JobStream.publish``: shared de-duplication
and XADD in one script), and refused with ``OVERLOADED`` while the stream holds ``scale.max_backlog`` jobs: not
acknowledged, so the edge still holds it and sends it again with the same key after a backoff
(edge/transmit/retry.py). The bound is checked against the
backlog this gateway last saw, so several gateways may overshoot it by the packets they have in
flight; it is never enforced by trimming the stream, which would drop accepted work.

The backpressure hint edges receive is the backlog's fill (0..1), so edges thin context frames
before anything is refused. Workers' Results and evidence requests reach the edge through the
gateway that holds its stream (edge_replies.py).
"""
from __future__ import annotations

import asyncio
import logging

import grpc
from redis.exceptions import RedisError

from cloud.config import CloudConfig
from cloud.health import CloudHealth
from cloud.ingest.auth import TokenStore
from cloud.ingest.grpc_server import open_grpc_server
from cloud.ingest.packet_limits import check_image, short
from cloud.ingest.packets import ack_message, error_message
from cloud.ingest.service import IngestService
from cloud.scale import edge_replies
from cloud.scale.jobs import JobStream
from cloud.scale.lifetime import Loop, start_loops, until_stopped
from cloud.scale.policy import admit, backpressure, is_job, job_keeps_image
from cloud.scale.redis_checks import check_redis, connect_async
from vigil.redact import register_secret
from vigil.v1 import vigil_pb2 as pb

log = logging.getLogger("vigil.scale")

BACKLOG_REFRESH_S = 0.5   # how often the backlog is re-read while no packet reports it


class QueueFill:
    """Stands where the single process has its engine: the backpressure edges are hinted with."""

    def __init__(self, max_backlog: int):
        self.max_backlog = max_backlog
        self.backlog = 0

    def backpressure(self) -> float:
        return backpressure(self.backlog, self.max_backlog)


class GatewayIngest(IngestService):
    def __init__(self, cfg: CloudConfig, jobs: JobStream, tokens: TokenStore | None = None):
        self.fill = QueueFill(cfg.scale.max_backlog)
        super().__init__(cfg, self.fill, alerts=None, tokens=tokens)
        self.jobs = jobs

    async def admit(self, edge_id: str, pkt: pb.FramePacket, now: float, size: int, out: asyncio.Queue,
                    degraded: bool = False) -> None:
        # `degraded` is for a cloud that decodes here; workers decode the queued JPEG as sent.
        if not is_job(pkt):
            self.stats["context_frames"] += 1
            self.observer.on_packet(edge_id, pkt.camera_id, size)
            out.put_nowait(ack_message(pkt, now, size, duplicate=False))
            return
        if pkt.jpeg:
            bad = check_image(pkt.jpeg, self.cfg.server.max_image_pixels)
            if bad is None and pkt.priority == pb.EVIDENCE:   # workers ask for evidence of events that sent none
                await edge_replies.mark_evidence(self.jobs.r, self.jobs.prefix, edge_id, pkt.camera_id, pkt.event_id)
            if bad is not None:   # the alert is still raised, from the packet's detections
                self.stats["corrupt_jpeg" if bad.code == "CORRUPT_JPEG" else "rejected_image"] += 1
                log.warning("%s from %s/%s seq %d: %s", bad.code, short(edge_id), short(pkt.camera_id),
                            pkt.sequence, bad.message)
                out.put_nowait(error_message(pkt, bad.code, bad.message))
                pkt.ClearField("jpeg")
            elif pkt.priority != pb.ALERT_METADATA and not self.limiter.allow(edge_id, size, now):
                self.stats["rate_limited"] += 1
                out.put_nowait(error_message(pkt, "RATE_LIMITED", "over this edge's rate limit: frame not decoded "
                                             "(its alert, if any, is raised)"))
                pkt.ClearField("jpeg")
            elif not job_keeps_image(pkt):
                pkt.ClearField("jpeg")
        decision = admit(self.fill.backlog, self.fill.max_backlog)
        if not decision.queue:
            self.stats["overloaded"] += 1
            out.put_nowait(error_message(pkt, decision.code, decision.message))
            return
        try:
            entry, self.fill.backlog = await self.jobs.publish(edge_id, pkt, self.cfg.scale.dedup_ttl_s)
        except RedisError as exc:
            self.stats["internal_errors"] += 1
            log.error("packet %s/%d from %s not queued: %s", short(pkt.camera_id), pkt.sequence, short(edge_id), exc)
            out.put_nowait(error_message(pkt, "INTERNAL", "the cloud could not queue this packet; it will be resent"))
            return
        if entry is None:
            self.stats["duplicates"] += 1
        else:
            self.stats["queued"] += 1
            self.observer.on_packet(edge_id, pkt.camera_id, size)
        out.put_nowait(ack_message(pkt, now, size, duplicate=entry is None))


class Gateway:
    """Owns the gRPC server, the Redis connection and the loops that keep the backlog and tokens fresh."""

    def __init__(self, cfg: CloudConfig):
        self.cfg = cfg
        for token in cfg.auth.tokens.values():
            register_secret(token)
        self.redis = connect_async(cfg.scale.redis_url)
        self.jobs = JobStream(self.redis, cfg.scale.prefix)
        self.tokens = TokenStore(cfg.auth.tokens, cfg.auth.token_file)
        self.service = GatewayIngest(cfg, self.jobs, self.tokens)
        self.health = CloudHealth()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> int:
        await check_redis(self.redis, self.cfg.scale.redis_url)
        self.service.fill.backlog = await self.jobs.backlog()
        self._server, self.port = open_grpc_server(self.cfg.server, self.service, self.health)
        await self._server.start()
        await self.health.set_serving(True)
        self.tasks = start_loops(self.loops())
        log.info("gateway: %d jobs queued in %s (max_backlog %d)", self.service.fill.backlog, self.jobs.key,
                 self.cfg.scale.max_backlog)
        log.info("cloud listening on %s:%d (gateway)", self.cfg.server.host, self.port)
        return self.port

    def loops(self) -> list[Loop]:
        """The background loops (name, one iteration, interval, sleep before the first), each under the
        loop guard (cloud/scale/lifetime.py). Forwarding replies resubscribes by itself after a Redis error;
        the guard restarts it after any other."""
        return [("backlog refresh", self._backlog_step, BACKLOG_REFRESH_S, True),
                ("token reload", self._token_step, self.cfg.auth.reload_interval_s, True),
                ("edge replies", self._replies_step, edge_replies.RESUBSCRIBE_PAUSE_S, False)]

    async def _backlog_step(self) -> None:
        try:
            self.service.fill.backlog = await self.jobs.backlog()
        except RedisError as exc:
            log.warning("gateway: cannot read the backlog: %s", exc)

    def _token_step(self) -> None:
        if self.tokens.reload_if_changed():
            self.service.revoke_stale_sessions()

    async def _replies_step(self) -> None:
        await edge_replies.forward_replies(self.redis, self.cfg.scale.prefix, self.service.deliver_reply)

    async def stop(self, grace_s: float = 1.0) -> None:
        for t in self.tasks:
            t.cancel()
        await self.health.shutting_down()
        if self._server:
            await self._server.stop(grace_s)
        self.service.close()
        await self.redis.aclose()


async def serve(cfg: CloudConfig, stop: asyncio.Event) -> int:
    gateway = Gateway(cfg)
    await gateway.start()
    rc = await until_stopped(stop, list(gateway.tasks), "gateway")
    log.info("gateway: shutting down (queued jobs stay in Redis for the workers)")
    await gateway.stop()
    return rc
