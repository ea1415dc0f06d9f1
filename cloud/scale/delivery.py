"""`vigil-cloud --role delivery`: moves committed alert stages from Redis into the outbox and sends them.

Workers append each committed stage to ``<prefix>:alerts`` (cloud/scale/ledger.py). This role reads
that stream in its own consumer group, commits every stage to the durable outbox and the event
store exactly as the single process does, and only then acknowledges it (XACK + XDEL). From the
outbox the unchanged ``Dispatcher`` delivers: retries with backoff, a breaker per endpoint, order
per alert, dead letters kept for ``vigil-cloud --dead-letters``.

One delivery process per deployment, on purpose: order per alert (``detected`` before
``described``) is kept by one outbox seeing the stream in commit order; two consumers would each
get part of an alert. Its consumer name is stable (``delivery``), so after a crash the restarted
process first re-reads its own unacknowledged entries; the outbox ignores a stage it already has,
so none is sent twice. Its outbox must live on a volume that survives the restart, as the single
process's does. It also records every stage in the event store and, with ``api.enabled``, serves the
operator API over it (events, their deliveries, the event stream, and /metrics with the whole
deployment's queue state from cloud/scale/metrics.py); camera states, event images and
the live view need the frames, which only the single process keeps.

Its loops run under the loop guard (cloud/scale/lifetime.py), as the single process's do: moving
stages from Redis into the outbox, the storage check, outbox housekeeping and store retention. Its
SQLite files are watched by the same storage-fault state (cloud/storage_fault.py, with its reserve):
while the outbox or the event store cannot write, or is short of the WAL's headroom, stages stay in
Redis (unacknowledged, nothing lost), one ERROR line a minute says why, and moving resumes by itself
when space returns. Only the lock's renewal is a plain task: losing the lock ends the process.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sqlite3
import uuid

from redis.exceptions import RedisError, ResponseError

from cloud.alerts.alert import Alert
from cloud.alerts.dispatcher import Dispatcher
from cloud.alerts.outbox import Outbox
from cloud.alerts.routes import build_routes, retry_policy
from cloud.api.app import ApiServer, make_app
from cloud.api.live import LiveState
from cloud.config import CloudConfig
from cloud.ingest.packet_limits import short
from cloud.scale.lifetime import Loop, start_loops, until_stopped
from cloud.scale.metrics import REFRESH_S, QueueSnapshot, registry_for, render
from cloud.scale.redis_checks import check_redis, connect_async
from cloud.storage_fault import Reserve, StorageState
from cloud.store.events import EventStore

log = logging.getLogger("vigil.scale")

GROUP = "delivery"
LOCK_LEASE_S = 10.0           # a crashed delivery process's lock frees itself after this
LOCK_RENEWALS_PER_LEASE = 3
# KEYS: lock; ARGV: holder, lease ms. Extends the lease only while we hold it.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
DEFAULT_CONSUMER = "delivery"
READ_BLOCK_MS = 1000          # an idle read returns this often (to notice a stop)
OWN_PENDING = "0"             # XREADGROUP from here re-reads what this consumer read and did not acknowledge
NEW_ENTRIES = ">"
LOOP_ERROR_PAUSE_S = 1.0
STORAGE_CHECK_INTERVAL_S = 1.0    # as the single process (cloud/service.py)
HOUSEKEEPING_INTERVAL_S = 600.0


class Delivery:
    def __init__(self, cfg: CloudConfig, sinks=None):
        self.cfg = cfg
        a, sc = cfg.alerts, cfg.scale
        routes = build_routes(a) if sinks is None else sinks
        if a.outbox_path is None:
            log.warning("alerts.outbox_path is null: the outbox is in memory, alerts do not survive a restart")
        self.outbox = Outbox(a.outbox_path, a.outbox_synchronous)
        self.storage = StorageState({"outbox": a.outbox_path, "event store": cfg.store.path}, a.min_free_bytes,
                                    reclaim={"outbox": self.outbox.checkpoint}, reserve=Reserve(a.min_free_bytes))
        self.storage.ensure_reserves()
        self.dispatcher = Dispatcher(self.outbox, routes, retry_policy(a))
        self.dispatcher.on_outbox_error = lambda exc: self.storage.failed("outbox", exc)   # True: a storage fault
        self.store = EventStore.from_config(cfg.store)
        self.redis = connect_async(sc.redis_url)
        self.key = f"{sc.prefix}:alerts"
        self.consumer = sc.consumer or DEFAULT_CONSUMER
        self.committed = 0
        self._cursor = OWN_PENDING
        self.lock_key = f"{sc.prefix}:delivery:lock"
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.tasks: list[asyncio.Task] = []
        self.api: ApiServer | None = None

    async def _acquire(self) -> None:
        """One delivery process at a time (order per alert); a crashed holder's lease runs out."""
        lease_ms = int(LOCK_LEASE_S * 1000)
        warned = False
        while not await self.redis.set(self.lock_key, self.holder, nx=True, px=lease_ms):
            if not warned:
                log.warning("delivery: another delivery process holds %s; waiting (at most %gs if it crashed)",
                            self.lock_key, LOCK_LEASE_S)
                warned = True
            await asyncio.sleep(LOCK_LEASE_S / LOCK_RENEWALS_PER_LEASE)

    async def _renew(self) -> None:
        """Keep the lease; losing it (Redis flushed, a long stall) ends this process: exit 1, restarted."""
        while True:
            await asyncio.sleep(LOCK_LEASE_S / LOCK_RENEWALS_PER_LEASE)
            try:
                held = await self.redis.eval(_RENEW, 1, self.lock_key, self.holder, int(LOCK_LEASE_S * 1000))
            except RedisError as exc:
                log.warning("delivery: renewing the lock failed: %s", exc)
                continue
            if not held:
                raise RuntimeError(f"delivery: lost {self.lock_key} to another process")

    def _accept(self, alert: Alert) -> None:
        try:
            self.store.record_alert(alert)
        except sqlite3.Error as exc:   # the operator view may lag; the alert itself must still go out
            if not self.storage.failed("event store", exc):
                log.exception("event store: could not record alert %s %s", alert.alert_id, alert.stage)
        try:
            committed = self.dispatcher.submit(alert)   # committed when this returns
        except Exception as exc:
            self.storage.failed("outbox", exc)
            raise
        if committed:
            self.committed += 1
            log.info("delivery: alert %s %s camera=%s committed to the outbox", alert.alert_id, alert.stage,
                     short(alert.camera_id))

    def loops(self) -> list[Loop]:
        """The background loops (name, one iteration, interval, sleep before the first), each under the loop guard."""
        return [("alert stages", self._move_step, 0.0, False),
                ("storage check", self.storage.check, STORAGE_CHECK_INTERVAL_S, False),
                ("outbox housekeeping", self._housekeeping_step, HOUSEKEEPING_INTERVAL_S, False),
                ("store retention", self._retention_step, self.cfg.store.sweep_interval_s, False)]

    async def _move_step(self) -> None:
        """One read of the stream into the outbox; nothing is read while the storage refuses (the stages
        wait in Redis; the storage state logs why)."""
        if not self.storage.admit():
            await asyncio.sleep(LOOP_ERROR_PAUSE_S)
            return
        try:
            reply = await self.redis.xreadgroup(GROUP, self.consumer, {self.key: self._cursor},
                                                count=self.cfg.scale.read_batch, block=READ_BLOCK_MS)
        except RedisError as exc:
            log.warning("delivery: reading %s failed: %s", self.key, exc)
            await asyncio.sleep(LOOP_ERROR_PAUSE_S)
            return
        entries = [e for _, es in reply or [] for e in es]
        if self._cursor != NEW_ENTRIES and not entries:   # own pending list read to its end: now the new entries
            self._cursor = NEW_ENTRIES
            return
        try:
            for entry_id, fields in entries:
                if fields:   # a pending entry deleted meanwhile comes back without fields
                    self._accept(Alert(**json.loads(fields[b"alert"])))
                async with self.redis.pipeline(transaction=True) as p:
                    p.xack(self.key, GROUP, entry_id)
                    p.xdel(self.key, entry_id)
                    await p.execute()
                if self._cursor != NEW_ENTRIES:
                    self._cursor = entry_id
        except (RedisError, sqlite3.Error, OSError) as exc:   # not acknowledged: read again from our pending list
            if not self.storage.refusing:   # a storage fault is said by the storage state, once a minute
                log.error("delivery: could not commit or acknowledge alert stages (%s); retrying", exc)
            self._cursor = OWN_PENDING
            await asyncio.sleep(LOOP_ERROR_PAUSE_S)

    def _housekeeping_step(self) -> None:
        self.outbox.forget_delivered(self.cfg.alerts.retain_delivered_s)

    def _retention_step(self) -> None:
        deleted = self.store.apply_retention()
        if deleted:
            log.info("event store retention deleted %d events", deleted)

    async def start(self) -> None:
        await check_redis(self.redis, self.cfg.scale.redis_url)
        try:
            await self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self._acquire()
        self.dispatcher.start()
        self.tasks = [*start_loops(self.loops()), asyncio.create_task(self._renew(), name="delivery lock")]
        if self.cfg.api.enabled:
            api = self.cfg.api
            snapshot = QueueSnapshot(self.cfg.scale.prefix)
            registry = registry_for(snapshot, self)
            self.tasks += start_loops([("queue snapshot", lambda: snapshot.follow(self.redis), REFRESH_S, False)])
            app = make_app(self.store, tokens=api.tokens, live=LiveState(self.store), keepalive_s=api.stream_keepalive_s,
                           deliveries=self.outbox.deliveries_of, render_metrics=lambda: render(registry),
                           storage=self.storage.snapshot)
            self.api = ApiServer(app, api.host, api.port)
            log.info("operator API on %s:%d (events and deliveries; cameras, images and live view need the "
                     "single process)", api.host, await self.api.start())
        log.info("delivery: reading %s into the outbox (%d sinks)", self.key, len(self.dispatcher.routes))

    async def stop(self, timeout_s: float) -> None:
        """Stop reading; give deliveries ``timeout_s``; what is left stays in the outbox for the next start."""
        for t in self.tasks:
            t.cancel()
        if self.api is not None:
            await self.api.stop()
        drained = await self.dispatcher.drain(timeout_s)
        if not drained:
            log.warning("delivery: %d deliveries stay in the outbox; the next start sends them",
                        self.dispatcher.pending())
        await self.dispatcher.close()
        self.outbox.close()
        self.store.close()
        try:
            await self.redis.eval(_RELEASE, 1, self.lock_key, self.holder)
        except RedisError:
            pass   # the lease runs out by itself
        await self.redis.aclose()


async def serve(cfg: CloudConfig, stop: asyncio.Event) -> int:
    delivery = Delivery(cfg)
    await delivery.start()
    rc = await until_stopped(stop, delivery.tasks, "delivery")
    log.info("delivery: shutting down (at most %gs for deliveries)", cfg.alerts.drain_timeout_s)
    await delivery.stop(cfg.alerts.drain_timeout_s)
    return rc
