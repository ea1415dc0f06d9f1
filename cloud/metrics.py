"""Prometheus metrics of the cloud service, read from its counters at scrape time.

Counters the service already keeps (ingest stats, alert stages, dispatcher deliveries) are exported
by a custom collector, so the hot path gains no extra bookkeeping; model latency and visual tokens
kept are observed per answer by ``MeteredEngine``, a wrapper around any engine. One registry per
service, so tests (and two services in one process) never share series.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
TOKEN_BUCKETS = (8, 16, 32, 64, 128, 256, 576, 1024, 2304, 4608)
INGEST_COUNTERS = ("packets", "bytes", "duplicates", "oversized", "invalid", "corrupt_jpeg", "context_frames",
                   "context_shed", "frames_degraded", "described", "describe_errors", "evidence_requested", "auth_rejected", "sessions",
                   # second descriptions (cloud/answer/redescribe.py): sent, and dropped (shed, late, failed)
                   "redescribed", "redescribe_overloaded", "redescribe_deadline", "redescribe_errors")


class _ServiceCollector:
    def __init__(self, service, live=None, store=None):
        self.service, self.live, self.store = service, live, store

    def collect(self):
        svc = self.service
        ingest = CounterMetricFamily("vigil_cloud_ingest", "ingest service counters by kind", labels=["kind"])
        for k in INGEST_COUNTERS:
            ingest.add_metric([k], float(svc.service.stats.get(k, 0)))
        yield ingest
        stages = CounterMetricFamily("vigil_cloud_alert_stages", "alert stages emitted", labels=["stage"])
        for k, v in sorted(svc.emitted.items()):
            stages.add_metric([k], float(v))
        yield stages
        d = svc.dispatcher.stats
        deliveries = CounterMetricFamily("vigil_cloud_deliveries", "alert stages delivered to sinks", labels=["stage"])
        for k, v in sorted(d.items()):
            if k.startswith("delivered_"):
                deliveries.add_metric([k[len("delivered_"):]], float(v))
        yield deliveries
        yield CounterMetricFamily("vigil_cloud_delivery_retries", "delivery attempts retried", value=float(d.get("retries", 0)))
        storage = getattr(svc, "storage", None)
        if storage is not None:
            fault = GaugeMetricFamily("vigil_cloud_storage_fault", "1 while a store cannot write (packets are refused)",
                                      labels=["store"])
            for name in storage.stores:
                fault.add_metric([name], 1.0 if name in storage.faults else 0.0)
            yield fault
            yield CounterMetricFamily("vigil_cloud_storage_faults", "times a store entered the fault state",
                                      value=float(storage.entered))
            yield CounterMetricFamily("vigil_cloud_storage_reserve_released",
                                      "times a store's reserve file was given up so its write-ahead log could be checkpointed",
                                      value=float(storage.reserve_released))
            yield CounterMetricFamily("vigil_cloud_packets_refused_storage", "packets refused while a store could not write",
                                      value=float(svc.service.stats.get("refused_storage", 0)))
        yield CounterMetricFamily("vigil_cloud_dead_letters", "alert stages dead-lettered", value=float(d.get("dead_lettered", 0)))
        outbox = getattr(svc, "outbox", None)
        if outbox is not None:
            yield GaugeMetricFamily("vigil_cloud_outbox_pending", "alert stage deliveries waiting in the outbox", value=float(outbox.pending_count()))
            yield GaugeMetricFamily("vigil_cloud_outbox_dead", "dead letters kept in the outbox", value=float(outbox.dead_count()))
        admission = svc.service.admission
        yield GaugeMetricFamily("vigil_cloud_admission_held_bytes", "bytes of frames the ingest holds (admission budget)",
                                value=float(admission.held_bytes))
        yield GaugeMetricFamily("vigil_cloud_admission_peak_bytes", "most bytes of frames the ingest has held at once",
                                value=float(admission.peak_bytes))
        yield GaugeMetricFamily("vigil_cloud_open_alerts", "alerts awaiting their description", value=float(svc.alerts.open_count))
        queue_stats = getattr(svc.service.engine, "queue_stats", None)
        if callable(queue_stats):
            q = queue_stats()
            yield GaugeMetricFamily("vigil_cloud_describe_queue_depth", "events waiting for the model", value=float(q["depth"]))
            yield GaugeMetricFamily("vigil_cloud_describe_running", "descriptions being computed", value=float(q["running"]))
            yield GaugeMetricFamily("vigil_cloud_describe_batch_limit", "descriptions the model may compute at once now "
                                    "(adapted so they finish inside their deadline)", value=float(q["batch_limit"]))
            yield CounterMetricFamily("vigil_cloud_describe_shed", "descriptions shed by a full describe queue (timeout, overloaded)",
                                      value=float(q["shed"]))
            yield CounterMetricFamily("vigil_cloud_describe_late", "descriptions dropped at their deadline, never computed past it (timeout, deadline)",
                                      value=float(q["late"]))
            yield CounterMetricFamily("vigil_cloud_redescribe_dropped", "second descriptions shed or past their deadline "
                                      "(dropped; the alert keeps its first description)",
                                      value=float(q.get("second_shed", 0) + q.get("second_late", 0)))
            yield CounterMetricFamily("vigil_cloud_describe_coalesced", "queued descriptions replaced by a newer frame of their event",
                                      value=float(q["coalesced"]))
        engine_stats = getattr(svc.engine, "stats", None)
        if callable(engine_stats):
            st = engine_stats()
            q = GaugeMetricFamily("vigil_cloud_engine_requests", "engine requests by state", labels=["state"])
            for state in ("waiting", "running"):
                q.add_metric([state], float(st.get(state, 0)))
            yield q
            yield GaugeMetricFamily("vigil_cloud_engine_backpressure", "engine backpressure 0..1", value=float(st.get("backpressure", 0)))
            yield GaugeMetricFamily("vigil_cloud_kv_bytes", "bytes of KV cache the running batch holds",
                                    value=float(st.get("kv_bytes", 0)))
            spec = st.get("speculative") or {}
            if spec:
                yield GaugeMetricFamily("vigil_cloud_spec_mean_accepted_length",
                                        "speculative decoding: tokens emitted per drafting step (1 = no gain)",
                                        value=float(spec.get("mean_accepted_length", 1.0)))
                yield GaugeMetricFamily("vigil_cloud_spec_acceptance_rate", "speculative decoding: accepted / proposed",
                                        value=float(spec.get("acceptance_rate", 0.0)))
        if self.live is not None:
            state = GaugeMetricFamily("vigil_cloud_camera_up", "1 when the camera sent a packet recently", labels=["camera"])
            for cam in self.live.cameras():
                state.add_metric([cam["camera_id"]], 1.0 if cam["state"] == "live" else 0.0)
            yield state
        if self.store is not None:
            yield GaugeMetricFamily("vigil_cloud_store_bytes", "bytes held by the event store", value=float(self.store.bytes_used()))


class CloudMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.latency = Histogram("vigil_cloud_model_latency_seconds", "describe request: submit to answer, by phase",
                                 ["phase"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.visual_tokens = Histogram("vigil_cloud_visual_tokens_kept", "visual tokens kept in the prompt after pruning",
                                       buckets=TOKEN_BUCKETS, registry=self.registry)
        self.visual_tokens_before = Histogram("vigil_cloud_visual_tokens_before_prune", "visual tokens before pruning",
                                              buckets=TOKEN_BUCKETS, registry=self.registry)

    def watch(self, service, live=None, store=None) -> None:
        self.registry.register(_ServiceCollector(service, live, store))

    def observe(self, result) -> None:
        for phase in ("queue", "prefill", "decode"):
            self.latency.labels(phase).observe(float(getattr(result, f"{phase}_ms", 0.0)) / 1000.0)
        self.visual_tokens.observe(result.visual_tokens)
        if result.visual_tokens_before_prune:
            self.visual_tokens_before.observe(result.visual_tokens_before_prune)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MeteredEngine:
    """Any engine, with each answer's latency and visual tokens observed."""

    def __init__(self, engine, metrics: CloudMetrics):
        self._engine, self._metrics = engine, metrics

    def __getattr__(self, name):
        return getattr(self._engine, name)

    async def describe(self, req):
        result = await self._engine.describe(req)
        self._metrics.observe(result)
        return result
