"""The edge side of the DAT benchmark: 4 (or ``--cameras``) scripted cameras -> a transmission policy -> the real
``EdgeClient`` (gRPC stream, Acks, reconnect with backoff, stall watchdog).

Items are tagged as the product agent tags them (``edge/agent.py``): every event frame is offered
as a SEMANTIC_FRAME with the event's semantic hints (stage new / update / end); the policy decides
what goes on the wire. Policies by name: ``fifo_naive`` (today's FIFO: every frame, full
resolution, JPEG q90, unbounded queue), ``fifo_adaptive``, ``priority``, ``dat``.

The policy is wrapped by :class:`RecordingPolicy`, which only observes: every packet handed to the
client (class, event, bytes, sent time) and the first Ack of each (the cloud's ``receive_time``,
same clock here since both namespaces share the host clock). Writes everything to ``--out``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time

from edge.client import EdgeClient
from edge.detection import Detection
from edge.link_config import CloudLinkConfig
from edge.transmit.base import OutgoingItem, TransmissionPolicy
from edge.transmit.config import AdaptiveFifoConfig
from edge.transmit.dat import DatConfig, make_dat_policy
from edge.transmit.fifo import FifoPolicy
from edge.transmit.fifo_adaptive import AdaptiveFifoPolicy
from edge.transmit.priority import PriorityPolicy
from benchmarks.netlink.jpeg_quality import jpeg_quality
from benchmarks.netlink.scenario import (CAMERA_STAGGER_S, ClipFrames, build_events, build_items, scripted_box,
                                        site_cameras)
from vigil.v1 import vigil_pb2 as pb


READY_SLACK_S = 1.0   # after a late load, start the scenario this long after being ready


class RecordingPolicy(TransmissionPolicy):
    """Delegates to ``inner``; records packets out and Acks in (observation only)."""

    def __init__(self, inner: TransmissionPolicy) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.packets: dict[str, dict] = {}
        self.sends = 0

    def offer(self, item, now):
        self.inner.offer(item, now)

    def next_packet(self, now):
        p = self.inner.next_packet(now)
        if p is not None:
            self.sends += 1
            key = f"{p.camera_id}/{p.sequence}"
            rec = self.packets.setdefault(key, {"camera_id": p.camera_id, "sequence": p.sequence,
                                                "event_id": p.event_id, "priority": int(p.priority),
                                                "bytes": p.ByteSize(), "jpeg_bytes": len(p.jpeg),
                                                "width": p.width, "height": p.height,
                                                "jpeg_quality": jpeg_quality(p.jpeg) if p.jpeg else None,
                                                "cropped": p.HasField("crop"),
                                                "source_width": p.source_width, "first_sent": now,
                                                "sends": 0, "receive_time": None, "replayed": False})
            rec["sends"] += 1
            rec["replayed"] = rec["replayed"] or p.replayed
        return p

    def on_ack(self, ack, now):
        rec = self.packets.get(f"{ack.camera_id}/{ack.sequence}")
        if rec is not None and rec["receive_time"] is None:
            rec["receive_time"] = ack.receive_time
            rec["ack_at_edge"] = now
        self.inner.on_ack(ack, now)

    def on_hint(self, hint, now):
        self.inner.on_hint(hint, now)

    def on_disconnect(self, now):
        self.inner.on_disconnect(now)

    def pending(self):
        return self.inner.pending()

    def unacked(self):
        return self.inner.unacked()

    def wake_after(self, now):
        return self.inner.wake_after(now)


def make_item(frames: ClipFrames, it, t0: float) -> OutgoingItem:
    img = frames.at(it.camera_id, it.at)
    h, w = img.shape[:2]
    when = t0 + it.at
    if it.event is None:
        return OutgoingItem(camera_id=it.camera_id, event_id="", priority=pb.CONTEXT, image=img,
                            capture_time=when, event_onset=0.0, severity=0.0, created=when)
    e = it.event
    box = scripted_box(e, it.at, w, h)
    # As edge/agent.py: every event frame is a SEMANTIC_FRAME carrying semantic_hints(event).
    return OutgoingItem(camera_id=it.camera_id, event_id=e.event_id, priority=pb.SEMANTIC_FRAME, image=img,
                        capture_time=when, event_onset=t0 + e.onset,
                        detections=[Detection(*box, label=e.label, score=0.9, track_id=1)],
                        hints={"counts": {e.label: 1}, "zone": "", "dwell_seconds": max(0.0, it.at - e.onset),
                               "camera_name": it.camera_id, "severity": e.severity, "rule": "scripted",
                               "event_stage": it.stage}, severity=e.severity, created=when)


def make_policy(name: str, spool_dir: str, evidence_min_width: int | None = None) -> TransmissionPolicy:
    """The named policy at its shipped settings; ``evidence_min_width`` overrides the evidence floor
    of every policy that has one (an ablation; None = the shipped default)."""
    floor = {} if evidence_min_width is None else {"evidence_min_width": evidence_min_width}
    if name == "fifo_naive":
        p: TransmissionPolicy = FifoPolicy(jpeg_quality=90, max_queue=100_000)
    elif name == "fifo_adaptive":
        p = AdaptiveFifoPolicy(AdaptiveFifoConfig(**floor))
    elif name == "priority":
        p = PriorityPolicy(dat=DatConfig(spool_dir=spool_dir, **floor))
    elif name == "dat":
        p = make_dat_policy(DatConfig(spool_dir=spool_dir, **floor))
    else:
        raise ValueError(f"unknown policy {name!r}")
    p.name = name
    return p


async def run(a) -> dict:
    cameras = site_cameras(a.cameras)
    frames = ClipFrames(cameras)
    onsets = [float(x) for x in a.onsets.split(",")] if a.onsets else None
    events = build_events(a.duration, a.events_per_camera, a.event_len, onsets=onsets, cameras=cameras,
                          stagger_s=a.stagger)
    items = build_items(events, a.duration, a.gate_fps, a.context_every, cameras)
    inner = make_policy(a.policy, a.spool_dir, a.evidence_min_width if a.evidence_min_width >= 0 else None)
    policy = RecordingPolicy(inner)
    cams = [pb.CameraInfo(camera_id=c, name=c) for c, _, _ in cameras]
    # The link is a private veth pair between two namespaces of this benchmark: plaintext on purpose.
    link = CloudLinkConfig(target=a.target, reconnect_initial_s=0.5, reconnect_max_s=4.0, results_grace_s=1.0,
                           plaintext=True)
    client = EdgeClient(link, policy, cams, capabilities=(policy.name,), stall_timeout_s=a.stall_timeout)
    # The scenario starts at --start-at, or, when loading took longer (a busy machine), a moment
    # after loading: a late start must not compress the schedule. The orchestrator reads the
    # start from --ready-file and times the link changes from it.
    ready_at = time.time()
    t0 = max(a.start_at, ready_at + READY_SLACK_S)
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(repr(t0))
        os.replace(a.ready_file + ".tmp", a.ready_file)
    state = {"fed": False}

    async def feed() -> None:
        for it in items:
            delay = t0 + it.at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            policy.offer(make_item(frames, it, t0), time.time())
            client.notify()
        state["fed"] = True

    feeder = asyncio.ensure_future(feed())
    timed_out = False
    try:
        budget = max(1.0, t0 + a.duration + a.max_drain - time.time())
        await asyncio.wait_for(client.run(lambda: state["fed"]), timeout=budget)
    except asyncio.TimeoutError:
        timed_out = True
    feeder.cancel()
    return {"policy": a.policy, "t0": t0, "ready_late_s": max(0.0, ready_at - a.start_at), "duration": a.duration,
            "timed_out": timed_out,
            "events": [dict(camera_id=e.camera_id, event_id=e.event_id, onset=t0 + e.onset, severity=e.severity,
                            label=e.label) for e in events],
            "items_offered": len(items), "packets": list(policy.packets.values()), "sends": policy.sends,
            "client": dict(client.stats), "policy_stats": dict(getattr(inner, "stats", {}) or {}),
            "pending_at_end": policy.pending(), "unacked_at_end": policy.unacked(), "ended_at": time.time()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", choices=("fifo_naive", "fifo_adaptive", "priority", "dat"), required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--start-at", type=float, required=True)
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--events-per-camera", type=int, default=2)
    ap.add_argument("--event-len", type=float, default=6.0)
    ap.add_argument("--cameras", type=int, default=4, help="cameras on the site (4: today's scenario)")
    ap.add_argument("--stagger", type=float, default=CAMERA_STAGGER_S, help="camera k's events start k x this late")
    ap.add_argument("--evidence-min-width", type=int, default=-1,
                    help="evidence floor (px) for every policy that has one; -1 = the shipped default")
    ap.add_argument("--onsets", default="", help="comma-separated event onsets (s); default: spread")
    ap.add_argument("--gate-fps", type=float, default=4.0)
    ap.add_argument("--context-every", type=float, default=0.0,
                    help="seconds between context frames per camera; 0 = none (the agent sends none)")
    ap.add_argument("--max-drain", type=float, default=120.0)
    ap.add_argument("--stall-timeout", type=float, default=8.0)
    ap.add_argument("--spool-dir", default="var/bench-spool")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready-file", default="", help="written with the scenario start time once loaded")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    res = asyncio.run(run(a))
    with open(a.out, "w") as f:
        json.dump(res, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
