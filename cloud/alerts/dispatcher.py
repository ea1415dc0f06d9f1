"""Delivers alert stages from the durable outbox to every sink whose filter matches.

``submit`` commits the stage to the :class:`Outbox` (one pending delivery per matching sink)
and returns; the caller acknowledges the edge's packet only after that. One worker task per
sink then sends what is due:

* order per alert: the outbox hands out a stage only when the alert's earlier stages reached
  that sink, so ``described`` never overtakes ``detected``;
* retries: exponential backoff with jitter per delivery (:func:`vigil.backoff.backoff_delay`),
  until the delivery's budget is older than ``give_up_after_s`` (from the commit, or from the replay
  of a dead letter, which starts a full new budget) or the sink rejects it for good (a 4xx);
  then it is a dead letter, kept in the outbox for ``vigil-cloud --dead-letters``;
* a circuit breaker per sink: a receiver that is down gets one probe per cool-down, not a storm;
* idempotency: each stage carries a key stable across retries and restarts
  (``Alert.idempotency_key``); delivery is at least once, receivers drop repeats by that key.

A restarted service finds the pending deliveries of its predecessor and sends them.

An outbox that cannot write (a full disk) stops nothing for good: a worker survives an error in
one round and goes on; a send's outcome that could not be recorded is kept in memory and
recorded when the outbox writes again, and that stage is not handed out again meanwhile (a
delivered stage must not be sent twice because its bookkeeping failed).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from cloud.alerts.alert import Alert
from cloud.alerts.breaker import CircuitBreaker
from cloud.alerts.filters import AlertFilter
from cloud.alerts.outbox import Delivery, Outbox
from cloud.alerts.sinks.base import AlertSink, DeliveryError
from cloud.loops import ErrorLog
from vigil.backoff import backoff_delay

log = logging.getLogger("vigil.alerts")

IDLE_POLL_S = 1.0       # a worker looks at the outbox at least this often (wake-ups are the fast path)
MIN_SLEEP_S = 0.01      # no busy loop when the next retry is due "now"


@dataclass
class RetryPolicy:
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    give_up_after_s: float = 3600.0
    max_in_flight: int = 32           # concurrent sends per sink (different alerts)
    breaker_failures: int = 5
    breaker_open_initial_s: float = 1.0
    breaker_open_max_s: float = 30.0


@dataclass
class Route:
    sink: AlertSink
    filter: AlertFilter = field(default_factory=AlertFilter)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


class Dispatcher:
    def __init__(self, outbox: Outbox, sinks: list[AlertSink | Route], policy: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None):
        self.outbox = outbox
        self.policy = policy or RetryPolicy()
        p = self.policy
        self.routes = [s if isinstance(s, Route) else Route(s) for s in sinks]
        for r in self.routes:
            r.breaker = CircuitBreaker(p.breaker_failures, p.breaker_open_initial_s, p.breaker_open_max_s, rng)
        names = [r.sink.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"alert sink names must be unique (they key the outbox): {names}")
        self._clock = clock
        self._rng = rng
        self._wake = {r.sink.name: asyncio.Event() for r in self.routes}
        self._workers: list[asyncio.Task] = []
        self._closing = False
        self.stats: Counter[str] = Counter()
        # (stage id, sink) -> the outbox write of a send's outcome that failed, tried again each round
        self._unrecorded: dict[tuple[str, str], Callable[[], None]] = {}
        self._errors = ErrorLog()
        # the service's storage state; True when the error was the disk (said there, without a traceback)
        self.on_outbox_error: Callable[[Exception], bool] | None = None

    @property
    def sink_names(self) -> list[str]:
        return [r.sink.name for r in self.routes]

    # -- intake ----------------------------------------------------------------
    def submit(self, alert: Alert) -> bool:
        """Commit ``alert`` for every matching sink; False when this stage was committed before."""
        targets = [r.sink.name for r in self.routes if r.filter.matches(alert)]
        new = self.outbox.add(alert, targets)
        if not new:
            self.stats["already_committed"] += 1
            return False
        self.stats[f"committed_{alert.stage}"] += 1
        for name in targets:
            self._wake[name].set()
        return True

    # -- workers ---------------------------------------------------------------
    def start(self) -> None:
        orphans = self.outbox.sinks_with_pending() - set(self.sink_names)
        if orphans:
            log.warning("outbox holds pending deliveries for sinks no longer configured: %s "
                        "(kept; they go out when such a sink is configured again)", sorted(orphans))
        pending = self.outbox.pending_count(self.sink_names)
        if pending:
            log.info("outbox: %d deliveries pending from before this start; sending them", pending)
        dead = self.outbox.dead_count()
        if dead:
            log.warning("outbox: %d dead letters (list: vigil-cloud --dead-letters list; replay: "
                        "vigil-cloud --dead-letters replay)", dead)
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work(r), name=f"deliver:{r.sink.name}") for r in self.routes]

    async def _work(self, route: Route) -> None:
        """Keep up to ``max_in_flight`` sends going (a pipeline, not batches: one slow send holds no slot but its own)."""
        name = route.sink.name
        wake = self._wake[name]
        inflight: dict[str, asyncio.Task] = {}

        def done(sid: str) -> None:
            inflight.pop(sid, None)
            wake.set()
        while not self._closing:  # a flag, not only cancel(): asyncio.wait_for may swallow a cancel (bpo-42130)
            try:
                if self._round(route, inflight, done):
                    continue  # maybe more is due than we asked for
                nxt = self.outbox.next_due_at(name)
                now = self._clock()
                sleep = IDLE_POLL_S if nxt is None else min(IDLE_POLL_S, max(0.0, nxt - now))
                wait = route.breaker.wait_s(now)
                if wait > 0:
                    sleep = min(IDLE_POLL_S, wait)
            except Exception as exc:  # the outbox could not be read or written: this round is lost, not the worker
                self._outbox_error(f"delivery to {name}", exc)
                sleep = IDLE_POLL_S
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), timeout=max(sleep, MIN_SLEEP_S))
            except asyncio.TimeoutError:
                pass
        for task in list(inflight.values()):
            task.cancel()

    def _round(self, route: Route, inflight: dict[str, asyncio.Task], done) -> bool:
        """Record what could not be recorded, then start what is due; True when the batch was full."""
        name = route.sink.name
        for key, write in list(self._unrecorded.items()):
            if key[1] == name:
                write()                           # raises while the outbox still cannot write
                del self._unrecorded[key]
        now = self._clock()
        slots = self.policy.max_in_flight - len(inflight)
        wait = route.breaker.wait_s(now)
        allowed = route.breaker.allow(now) if slots > 0 and wait == 0 else 0
        want = slots if allowed < 0 else min(slots, allowed)
        held = [sid for sid, sink in self._unrecorded if sink == name]
        batch = self.outbox.due(name, now, want, exclude=[*inflight.keys(), *held]) if want > 0 else []
        if allowed == 1 and not batch:
            route.breaker.release_probe()  # nothing was due: the probe slot is not used
        for d in batch:
            task = asyncio.get_running_loop().create_task(self._attempt(route, d))
            inflight[d.stage_id] = task
            task.add_done_callback(lambda _t, sid=d.stage_id: done(sid))
        return bool(batch) and len(batch) == want

    def _outbox_error(self, what: str, exc: Exception) -> None:
        disk = self.on_outbox_error is not None and self.on_outbox_error(exc)
        key = f"{what}: {type(exc).__name__}: {exc}"
        first = self._errors.first_time(key) and not disk
        if self._errors.should_log(key):
            log.error("%s: outbox error (%s: %s); going on", what, type(exc).__name__, exc, exc_info=first)

    def _record(self, d: Delivery, sink: str, write: Callable[[], None]) -> None:
        """Write a send's outcome to the outbox; if it cannot be written now, keep it for the next round."""
        try:
            write()
        except Exception as exc:
            self._unrecorded[(d.stage_id, sink)] = write
            self._outbox_error(f"alert {d.alert.alert_id} stage {d.alert.stage} to {sink}: outcome kept in memory "
                               "until the outbox can record it", exc)

    async def _attempt(self, route: Route, d: Delivery) -> None:
        sink = route.sink
        try:
            await sink.send(d.alert)
        except DeliveryError as exc:
            now = self._clock()
            age = now - d.budget_from
            if exc.retryable:
                route.breaker.on_failure(now)
            if not exc.retryable or age >= self.policy.give_up_after_s:
                self.stats["dead_lettered"] += 1
                why = "rejected" if not exc.retryable else f"still failing after {age:.0f}s"
                log.error("alert %s stage %s NOT delivered to %s (%s, %d attempts): %s; kept as a dead letter",
                          d.alert.alert_id, d.alert.stage, sink.name, why, d.attempts + 1, exc)
                self._record(d, sink.name, lambda: self.outbox.dead(d.stage_id, sink.name, str(exc)))
                return
            delay = backoff_delay(d.attempts + 1, self.policy.backoff_initial_s, self.policy.backoff_max_s,
                                  rng=self._rng)
            self.stats["retries"] += 1
            log.warning("alert %s stage %s to %s failed (%s); attempt %d, next in %.2fs",
                        d.alert.alert_id, d.alert.stage, sink.name, exc, d.attempts + 1, delay)
            self._record(d, sink.name, lambda: self.outbox.retry_later(d.stage_id, sink.name, now + delay, str(exc)))
            return
        route.breaker.on_success()
        self._record(d, sink.name, lambda: self.outbox.delivered(d.stage_id, sink.name))
        self.stats[f"delivered_{d.alert.stage}"] += 1
        if d.attempts:
            log.info("alert %s stage %s delivered to %s after %d attempts", d.alert.alert_id, d.alert.stage,
                     sink.name, d.attempts + 1)
        self._wake[sink.name].set()  # a later stage of this alert may be due now

    # -- shutdown --------------------------------------------------------------
    def pending(self) -> int:
        return self.outbox.pending_count(self.sink_names)

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until nothing is pending for the configured sinks; False on timeout (the rest stays durable)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while self.pending():
            if not self._workers:
                return False
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        self._closing = True
        for t in self._workers:
            t.cancel()
        for t in self._workers:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._workers = []
        for r in self.routes:
            await r.sink.close()
