"""The cloud as one process: the ingest service, the engine, the alert pipeline (durable outbox,
dispatcher, sinks), the event store and the operator API, and the loops that keep them: describe
deadlines, token reloads, outbox housekeeping and store retention. Start, drain on SIGTERM, stop."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter

import grpc

from cloud.alerts.dispatcher import Dispatcher
from cloud.alerts.manager import AlertManager
from cloud.alerts.outbox import Outbox
from cloud.alerts.routes import build_routes, retry_policy
from cloud.alerts.seeing import ModelCard
from cloud.answer.describe import ALERT_MEMORY_S
from cloud.api.app import ApiServer, make_app
from cloud.api.links import event_links
from cloud.api.live import LiveState
from cloud.config import CloudConfig
from cloud.engine.build import build_engine
from cloud.health import CloudHealth
from cloud.ingest.auth import TokenStore
from cloud.ingest.grpc_server import open_grpc_server
from cloud.ingest.packet_limits import short
from cloud.ingest.service import IngestService
from cloud.loops import ErrorLog, run_forever
from cloud.metrics import CloudMetrics, MeteredEngine
from cloud.storage_fault import Reserve, StorageState
from cloud.store.events import EventStore
from vigil.redact import register_secret

log = logging.getLogger("vigil.cloud")

EXPIRE_INTERVAL_S = 0.1  # how often describe deadlines are checked
STORAGE_CHECK_INTERVAL_S = 1.0  # how often free space is looked at (a statvfs per store: cheap)
HOUSEKEEPING_INTERVAL_S = 600.0  # how often delivered outbox rows past retention are deleted


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
        self.storage = StorageState({"outbox": a.outbox_path, "event store": cfg.store.path}, a.min_free_bytes,
                                    reclaim={"outbox": self.outbox.checkpoint}, reserve=Reserve(a.min_free_bytes))
        self.storage.ensure_reserves()
        policy = retry_policy(a)
        self.dispatcher = Dispatcher(self.outbox, sinks, policy)
        self.dispatcher.on_outbox_error = lambda exc: self.storage.failed("outbox", exc)   # True: a storage fault
        self._expire_errors = ErrorLog()
        self.alerts = AlertManager(self._emit, describe_deadline_s=a.describe_deadline_s,
                                   retain_s=ALERT_MEMORY_S, lookup=self.outbox.latest_stage,
                                   model=lambda: ModelCard(self.engine.model_name, self.engine.sees_images))
        restored = self.alerts.restore(self.outbox.open_alerts())
        if restored:
            log.info("outbox: %d alerts left open by the previous process; they finish here", restored)
        self.store = EventStore.from_config(cfg.store)
        self.live = LiveState(self.store)
        self.metrics = CloudMetrics()
        self.service = IngestService(cfg, MeteredEngine(self.engine, self.metrics), self.alerts, self.tokens,
                                     observer=self.live)
        self.service.refusal = lambda: "" if self.storage.admit() else self.storage.reason()
        self.service.storage_error = lambda exc: self.storage.failed("outbox", exc)
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
        except sqlite3.Error as exc:  # the operator view may lag; the alert itself must still go out
            if not self.storage.failed("event store", exc):
                log.exception("event store: could not record alert %s %s", alert.alert_id, alert.stage)
        try:
            self.dispatcher.submit(alert)  # committed when this returns (raises if it could not be)
        except Exception as exc:
            self.storage.failed("outbox", exc)
            raise
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
        self._tasks = [asyncio.create_task(run_forever(name, step, interval, sleep_first=first), name=name)
                       for name, step, interval, first in self.loops()]
        if self.cfg.api.enabled:
            app = make_app(self.store, tokens=self.cfg.api.tokens, live=self.live, ready=self.ready,
                           render_metrics=self.metrics.render, keepalive_s=self.cfg.api.stream_keepalive_s,
                           live_relay=self.service.live_relay, live_timeout_s=self.cfg.api.live_answer_timeout_s,
                           deliveries=self.outbox.deliveries_of, storage=self.storage.snapshot)
            self.api = ApiServer(app, self.cfg.api.host, self.cfg.api.port)
            log.info("operator API on %s:%d", self.cfg.api.host, await self.api.start())
        log.info("cloud listening on %s:%d", s.host, self.port)
        return self.port

    def ready(self) -> bool:
        """Ingest listening and the model loaded (what /readyz reports)."""
        m = self.model_loaded
        return self.port is not None and m is not None and m.done() and not m.cancelled() and m.exception() is None

    def loops(self) -> list[tuple[str, object, float, bool]]:
        """The background loops: (name, one iteration, interval, sleep before the first). Each survives an
        exception in one iteration (cloud/loops.py)."""
        return [("describe deadlines", self._expire_step, EXPIRE_INTERVAL_S, True),
                ("outbox housekeeping", self._housekeeping_step, HOUSEKEEPING_INTERVAL_S, False),
                ("token reload", self._token_step, self.cfg.auth.reload_interval_s, True),
                ("store retention", self._retention_step, self.cfg.store.sweep_interval_s, False),
                ("storage check", self._storage_step, STORAGE_CHECK_INTERVAL_S, False)]

    def _retention_step(self) -> None:
        deleted = self.store.apply_retention()
        if deleted:
            log.info("event store retention deleted %d events", deleted)

    def _token_step(self) -> None:
        if self.tokens.reload_if_changed():
            self.service.revoke_stale_sessions()

    def _housekeeping_step(self) -> None:
        self.outbox.forget_delivered(self.cfg.alerts.retain_delivered_s)

    def _expire_step(self) -> None:
        self.alerts.expire()
        for aid, exc in self.alerts.failed.items():   # kept and tried again next tick; said once a minute
            key = f"{type(exc).__name__}: {exc}"
            if self._expire_errors.should_log(key):
                log.error("alert %s: described stage not committed (%s); it stays open and is tried again "
                          "(%d alerts wait so)", aid, key, len(self.alerts.failed))

    def _storage_step(self) -> None:
        self.storage.check()   # gives the outbox's WAL space back first when space is short

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
