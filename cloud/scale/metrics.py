"""Prometheus metrics of a scaled cloud, served by the delivery role's /metrics.

The whole deployment's queue state is read from Redis (the one place every role writes), on a
timer, so a scrape never waits on Redis: the job backlog gateways bound, jobs in work and how many
workers hold them, poison jobs, alert stages waiting for the delivery process; plus this process's
outbox and delivery counters.
"""
from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from redis.exceptions import RedisError

from cloud.scale.jobs import GROUP

log = logging.getLogger("vigil.scale")

REFRESH_S = 5.0     # Prometheus scrapes every 15 s by default; fresher than that is not read


class QueueSnapshot:
    """The last read of the deployment's Redis state (what the collector exports)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.values: dict[str, float] = {}

    async def refresh(self, client) -> None:
        p = self.prefix
        async with client.pipeline(transaction=False) as pipe:
            pipe.xlen(f"{p}:jobs")
            pipe.xlen(f"{p}:jobs:dead")
            pipe.xlen(f"{p}:alerts")
            pipe.zcard(f"{p}:open")
            backlog, dead, alerts, open_alerts = await pipe.execute()
        try:
            summary = await client.xpending(f"{p}:jobs", GROUP)
        except RedisError:   # no group yet (no worker has started)
            summary = {"pending": 0, "consumers": []}
        self.values = {"jobs_backlog": backlog, "jobs_in_work": summary["pending"],
                       "workers_holding_jobs": len(summary["consumers"] or []), "jobs_dead": dead,
                       "alert_stages_to_deliver": alerts, "alerts_open": open_alerts}

    async def follow(self, client) -> None:
        while True:
            try:
                await self.refresh(client)
            except RedisError as exc:
                log.warning("metrics: reading Redis failed: %s", exc)
            await asyncio.sleep(REFRESH_S)


HELP = {"jobs_backlog": "jobs queued or in work (gateways refuse at scale.max_backlog)",
        "jobs_in_work": "jobs read by a worker and not yet finished",
        "workers_holding_jobs": "workers with jobs in work",
        "jobs_dead": "poison jobs moved to <prefix>:jobs:dead",
        "alert_stages_to_deliver": "committed alert stages the delivery process has not yet taken",
        "alerts_open": "alerts detected and not yet described (any worker)"}


class _Collector:
    def __init__(self, snapshot: QueueSnapshot, delivery):
        self.snapshot, self.delivery = snapshot, delivery

    def collect(self):
        for key, text in HELP.items():
            yield GaugeMetricFamily(f"vigil_scale_{key}", text, value=float(self.snapshot.values.get(key, 0)))
        d = self.delivery
        yield GaugeMetricFamily("vigil_cloud_outbox_pending", "alert stage deliveries waiting in the outbox",
                                value=float(d.outbox.pending_count()))
        yield GaugeMetricFamily("vigil_cloud_outbox_dead", "dead letters kept in the outbox", value=float(d.outbox.dead_count()))
        deliveries = CounterMetricFamily("vigil_cloud_deliveries", "alert stages delivered to sinks", labels=["stage"])
        for k, v in sorted(d.dispatcher.stats.items()):
            if k.startswith("delivered_"):
                deliveries.add_metric([k[len("delivered_"):]], float(v))
        yield deliveries


def registry_for(snapshot: QueueSnapshot, delivery) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_Collector(snapshot, delivery))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
