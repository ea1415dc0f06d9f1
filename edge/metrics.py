"""Prometheus metrics of the edge agent, read from its counters at scrape time.

A custom collector reads what the agent already keeps (per-camera state machines, frame counters,
the client's send counters, the transmission policy's queues, spool and bandwidth estimate), so
the camera threads and the network loop gain no bookkeeping. Scrapes run on prometheus_client's
HTTP thread and only read sizes and counters; a reading that races a change is one scrape stale.
Policy internals are read where the policy has them (DAT: per-class queues, spool, estimate;
FIFO: one queue), so any ``TransmissionPolicy`` can be scraped.
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from edge.metrics_config import MetricsConfig
from edge.sources.state import CameraState
from vigil.v1 import vigil_pb2 as pb

AGENT_COUNTERS = ("frames_read", "frames_gated", "events", "camera_errors")
CLIENT_COUNTERS = ("packets_sent", "bytes_sent", "acks", "results", "packet_errors", "reconnects", "stalls",
                   "oversized_not_sent", "frames_shed", "frames_degraded")
CLASSES = (pb.ALERT_METADATA, pb.SEMANTIC_FRAME, pb.EVIDENCE, pb.CONTEXT)


class EdgeCollector:
    def __init__(self, agent):
        self.agent = agent

    def collect(self):
        agent = self.agent
        frames = CounterMetricFamily("vigil_edge_agent", "agent counters by kind (frames read, gated, events)", labels=["kind"])
        for k in AGENT_COUNTERS:
            frames.add_metric([k], float(agent.stats.get(k, 0)))
        yield frames
        client = CounterMetricFamily("vigil_edge_client", "cloud link counters by kind (packets and bytes sent, acks)", labels=["kind"])
        for k in CLIENT_COUNTERS:
            client.add_metric([k], float(agent.client.stats.get(k, 0)))
        yield client
        state = GaugeMetricFamily("vigil_edge_camera_state", "1 for the state each camera is in", labels=["camera", "state"])
        reconnects = CounterMetricFamily("vigil_edge_camera_reconnects", "camera reconnects", labels=["camera"])
        dropped = CounterMetricFamily("vigil_edge_camera_frames_dropped", "frames dropped because processing lagged", labels=["camera"])
        fps = GaugeMetricFamily("vigil_edge_camera_fps", "frames read per second over the last few seconds", labels=["camera"])
        rate, now = getattr(agent, "frame_rate", None), time.monotonic()
        for snap in agent.camera_status():
            cam = snap["camera_id"]
            for s in CameraState:
                state.add_metric([cam, s.value], 1.0 if snap.get("state") == s.value else 0.0)
            reconnects.add_metric([cam], float(snap.get("reconnects", 0)))
            dropped.add_metric([cam], float(snap.get("frames_dropped", 0)))
            if rate is not None:
                fps.add_metric([cam], rate.fps(cam, now))
        yield state
        yield reconnects
        yield dropped
        yield fps
        yield from _policy_metrics(agent.policy)


def _policy_metrics(policy):
    queue = GaugeMetricFamily("vigil_edge_queue_depth", "messages waiting to be sent, per message class", labels=["class"])
    scheduler = getattr(policy, "scheduler", None)
    if scheduler is not None and hasattr(scheduler, "count"):
        for c in CLASSES:
            queue.add_metric([pb.PriorityClass.Name(c).lower()], float(scheduler.count(c)))
    else:
        queue.add_metric(["all"], float(policy.pending()))
    yield queue
    yield GaugeMetricFamily("vigil_edge_unacked_packets", "packets sent and not yet acknowledged", value=float(policy.unacked()))
    spool = getattr(policy, "spool", None)
    if spool is not None:
        yield GaugeMetricFamily("vigil_edge_spool_packets", "packets spooled to disk while offline", value=float(len(spool)))
        try:
            held = float(spool.bytes)
        except RuntimeError:  # the spool changed while we summed it; the next scrape reads it
            held = float("nan")
        yield GaugeMetricFamily("vigil_edge_spool_bytes", "bytes spooled to disk while offline", value=held)
    if hasattr(policy, "rate"):
        yield GaugeMetricFamily("vigil_edge_bandwidth_estimate_bytes_per_second", "uplink rate the policy plans with",
                                value=float(policy.rate(time.time())))


def registry_for(agent) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(EdgeCollector(agent))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def serve(agent, cfg: MetricsConfig):
    """Start /metrics on a background thread; returns the HTTP server (``shutdown()`` stops it)."""
    server, _thread = start_http_server(cfg.port, cfg.host, registry=registry_for(agent))
    return server
