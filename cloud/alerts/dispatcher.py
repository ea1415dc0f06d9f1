"""Delivers alert stages to every sink, retrying with backoff.

Ordering: the stages of one alert reach a sink in order (``detected`` before
``described``) because they are chained per (sink, alert id); different alerts
are independent, so one failing receiver slows only its own alerts.
An alert that exhausts its attempts goes to a dead-letter JSONL file (when
configured) and is counted, never silently dropped.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from pathlib import Path

from cloud.alerts.alert import Alert
from vigil.backoff import backoff_delay
from cloud.alerts.sinks.base import AlertSink, DeliveryError

log = logging.getLogger("vigil.alerts")


class Dispatcher:
    def __init__(self, sinks: list[AlertSink], *, max_attempts: int = 8, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 30.0, dead_letter_path: str | Path | None = None):
        self.sinks = sinks
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.dead_letter_path = Path(dead_letter_path) if dead_letter_path else None
        self._chains: dict[tuple[str, str], asyncio.Task] = {}
        self.stats: Counter[str] = Counter()

    def submit(self, alert: Alert) -> None:
        """Queue one stage for every sink (returns at once)."""
        for sink in self.sinks:
            key = (sink.name, alert.alert_id)
            prev = self._chains.get(key)
            task = asyncio.get_running_loop().create_task(self._deliver_after(prev, sink, alert))
            self._chains[key] = task
            task.add_done_callback(lambda t, k=key: self._forget(k, t))

    def _forget(self, key: tuple[str, str], task: asyncio.Task) -> None:
        if self._chains.get(key) is task:
            del self._chains[key]

    async def _deliver_after(self, prev: asyncio.Task | None, sink: AlertSink, alert: Alert) -> None:
        if prev is not None:
            await asyncio.wait([prev])  # keep stage order; prev never raises into us
        attempt = 0
        while True:
            attempt += 1
            try:
                await sink.send(alert)
                self.stats[f"delivered_{alert.stage}"] += 1
                if attempt > 1:
                    log.info("alert %s stage %s delivered to %s after %d attempts",
                             alert.alert_id, alert.stage, sink.name, attempt)
                return
            except DeliveryError as exc:
                if not exc.retryable or attempt >= self.max_attempts:
                    self._dead_letter(sink, alert, str(exc), attempt)
                    return
                delay = backoff_delay(attempt, self.backoff_initial_s, self.backoff_max_s)
                self.stats["retries"] += 1
                log.warning("alert %s stage %s to %s failed (%s); retry %d in %.2fs",
                            alert.alert_id, alert.stage, sink.name, exc, attempt, delay)
                await asyncio.sleep(delay)

    def _dead_letter(self, sink: AlertSink, alert: Alert, reason: str, attempts: int) -> None:
        self.stats["dead_lettered"] += 1
        log.error("alert %s stage %s NOT delivered to %s after %d attempts: %s",
                  alert.alert_id, alert.stage, sink.name, attempts, reason)
        if self.dead_letter_path is not None:
            self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
            with self.dead_letter_path.open("a") as fh:
                fh.write(json.dumps({"sink": sink.name, "reason": reason, "alert": alert.to_dict()}) + "\n")

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued delivery finished; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while self._chains:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            _, pending = await asyncio.wait(list(self._chains.values()), timeout=remaining)
            if pending:
                return False
        return True

    async def close(self) -> None:
        for sink in self.sinks:
            await sink.close()
