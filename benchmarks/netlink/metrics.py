"""What the DAT benchmark measures, from one run's records (pure: no processes, sockets or clocks).

A run's records are the edge's (every packet handed to the client: class, event, bytes, size,
JPEG quality, crop, first Ack's cloud receive time) and the cloud's (every alert stage emitted).
Per scripted event: the described alert's delay from onset (for a lost alert, the time from
onset to the run's end, a lower bound, kept apart); the semantic frame (the first
describable frame received); the evidence (the first full-frame record received: an EVIDENCE
packet for policies with that class, else the first uncropped frame), each with its size,
quality and time from onset. ``aggregate`` pools a policy's runs on one profile.
"""
from __future__ import annotations

import re

import numpy as np

from benchmarks.provenance import summarize
from vigil.v1 import vigil_pb2 as pb

EVIDENCE_DEADLINE_S = 1.0  # evidence must reach the cloud within this of event onset
WIDE_SOURCE_PX = 640       # evidence_min_width is taken over the 640-px clip (bikes.mp4)
# Policies with an explicit evidence class; for the others the first full frame is the evidence.
EVIDENCE_CLASS_POLICIES = {"priority", "dat"}


def _frame(p: dict | None, onset: float) -> dict | None:
    if p is None:
        return None
    return {"width": p["width"], "height": p["height"], "jpeg_quality": p.get("jpeg_quality"),
            "jpeg_bytes": p["jpeg_bytes"], "source_width": p["source_width"],
            "from_onset_s": round(p["receive_time"] - onset, 4)}


def event_records(run: dict) -> list[dict]:
    """Per scripted event: described alert, semantic frame and evidence, times from onset."""
    edge, alerts = run["edge"], run["alerts"]
    described = {}
    for a in alerts:
        if a["stage"] == "described":
            described.setdefault((a["camera_id"], a["event_id"]), a)
    evidence_classes = ({pb.EVIDENCE} if edge["policy"] in EVIDENCE_CLASS_POLICIES
                        else {pb.SEMANTIC_FRAME, pb.PRIORITY_UNSPECIFIED})
    first_sem: dict = {}
    first_ev: dict = {}
    for p in sorted((p for p in edge["packets"] if p["event_id"] and p["receive_time"] is not None
                     and p["jpeg_bytes"] > 0), key=lambda p: p["receive_time"]):
        k = (p["camera_id"], p["event_id"])
        if p["priority"] in (pb.SEMANTIC_FRAME, pb.PRIORITY_UNSPECIFIED):
            first_sem.setdefault(k, p)
        if p["priority"] in evidence_classes and not p.get("cropped"):
            first_ev.setdefault(k, p)
    out = []
    end = edge.get("ended_at")
    for e in edge["events"]:
        k = (e["camera_id"], e["event_id"])
        a = described.get(k)
        delay = round(a["emitted_at"] - e["onset"], 4) if a else None
        out.append({"camera_id": e["camera_id"], "event_id": e["event_id"], "severity": e["severity"],
                    "onset": e["onset"],
                    "described": a is not None, "status": a["status"] if a else None,
                    "delay_s": delay,
                    # a lost alert waited at least until the run ended: a lower bound for paired comparisons
                    "delay_or_censored_s": delay if a else (round(end - e["onset"], 4) if end else None),
                    "semantic": _frame(first_sem.get(k), e["onset"]),
                    "evidence": _frame(first_ev.get(k), e["onset"])})
    return out


def run_metrics(run: dict) -> dict:
    """What one run of one policy measured (its events are pooled across repeats later)."""
    edge = run["edge"]
    events = event_records(run)
    delays = [(e["delay_s"], e["severity"]) for e in events if e["delay_s"] is not None]
    down, up = run.get("outage_window") or (None, None)
    outage = {}
    if down is not None and up is not None:
        described_at = {(e["camera_id"], e["event_id"]): e["delay_s"] for e in events}
        onsets = {(e["camera_id"], e["event_id"]): e["onset"] for e in events}
        in_outage = [k for k, t in onsets.items() if down <= t < up]
        outage = {"outage_window_s": [round(down - edge["t0"], 2), round(up - edge["t0"], 2)],
                  "events_during_outage": len(in_outage),
                  # an alert described while the link was down would mean the outage was not real
                  "described_while_down": sum(1 for k in in_outage if described_at.get(k) is not None
                                              and onsets[k] + described_at[k] < up)}
    drops = re.search(r"dropped (\d+)", run.get("qdisc") or "")
    return {
        "events": events,
        "tbf_dropped_packets": int(drops.group(1)) if drops else None,
        "weighted_delay_s": (sum(d * w for d, w in delays) / sum(w for _, w in delays)) if delays else None,
        "alerts_lost": sum(1 for e in events if not e["described"]),
        "bytes_sent": int(edge["client"].get("bytes_sent", 0)),
        "packets_sent": int(edge["client"].get("packets_sent", 0)),
        "reconnects": int(edge["client"].get("reconnects", 0)),
        "stalls": int(edge["client"].get("stalls", 0)),
        "edge_timed_out": bool(edge["timed_out"]),
        "edge_ready_late_s": round(edge.get("ready_late_s", 0.0), 3),
        "pending_at_end": edge["pending_at_end"],
        "link_actions": run.get("link_actions", []),
        **outage,
        "policy_stats": {k: v for k, v in (edge.get("policy_stats") or {}).items()
                         if k.startswith(("shed", "spool", "replayed", "disconnects", "sent_", "coalesced"))},
    }


def _pct(xs: list[float], q: float) -> float | None:
    return float(np.percentile(xs, q)) if xs else None


def aggregate(runs: list[dict]) -> dict:
    """Pool one policy's runs on one profile: delays, evidence, frame sizes, per-run spread."""
    events = [e for r in runs for e in r["events"]]
    done = [e for e in events if e["delay_s"] is not None]
    d = [e["delay_s"] for e in done]
    w = [e["severity"] for e in done]
    ev = [e["evidence"] for e in events]
    ev_t = [x["from_onset_s"] for x in ev if x is not None]
    sem = [e["semantic"] for e in events if e["semantic"] is not None]
    wide_ev = [x for x in ev if x is not None and x["source_width"] >= WIDE_SOURCE_PX]

    def sizes(frames: list[dict]) -> dict:
        return {"width_min": min((f["width"] for f in frames), default=None),
                "width_median": _pct([f["width"] for f in frames], 50),
                "jpeg_quality_median": _pct([f["jpeg_quality"] for f in frames if f["jpeg_quality"]], 50),
                "jpeg_bytes_median": _pct([f["jpeg_bytes"] for f in frames], 50),
                "from_onset_p50_s": _pct([f["from_onset_s"] for f in frames], 50),
                "from_onset_p95_s": _pct([f["from_onset_s"] for f in frames], 95)}

    per_run = [r["weighted_delay_s"] for r in runs if r["weighted_delay_s"] is not None]
    return {
        "runs": len(runs), "events": len(events), "described": len(done),
        "alerts_lost": sum(r["alerts_lost"] for r in runs),
        "weighted_delay_s": float(np.dot(d, w) / np.sum(w)) if d else None,
        "weighted_delay_per_run_s": summarize(per_run),
        "p50_delay_s": _pct(d, 50), "p95_delay_s": _pct(d, 95), "max_delay_s": max(d) if d else None,
        "evidence_within_1s": (sum(1 for t in ev_t if t <= EVIDENCE_DEADLINE_S) / len(events)) if events else None,
        "evidence_missing": sum(1 for x in ev if x is None),
        "evidence_min_width_640px_clip": min((x["width"] for x in wide_ev), default=None),
        "semantic_frame": sizes(sem),
        "evidence": sizes([x for x in ev if x is not None]),
        "evidence_640px_clip": sizes(wide_ev),
        "bytes_sent_per_run": summarize(r["bytes_sent"] for r in runs),
        "edge_ready_late_max_s": max((r["edge_ready_late_s"] for r in runs), default=None),
        "edge_timed_out": sum(r["edge_timed_out"] for r in runs),
        "reconnects": sum(r["reconnects"] for r in runs),
        "tbf_dropped_packets": sum(r["tbf_dropped_packets"] or 0 for r in runs),
        "delays_s": sorted(d),
        "per_run": runs,
    }
