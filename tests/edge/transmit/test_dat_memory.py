"""The DAT policy's memory stays bounded however many events pass: data, no I/O but the spool folder.

An all-day camera opens an event every few seconds. The policy remembers events (``max_events``) so a
known one never re-alerts, but the frames it holds must be bounded by ``evidence_cache_events`` and what
is queued or in flight, not by the number of events seen: a full frame kept per event grew the edge's
RSS by hundreds of MB per hour in the soak.
"""
import gc
import weakref

import numpy as np

from benchmarks.netlink.linkmodel import BottleneckLink
from edge.detection import Detection
from edge.transmit.base import OutgoingItem
from edge.transmit.dat import DatConfig, make_dat_policy
from edge.transmit.dat.scheduler import Message, MultiStreamScheduler
from vigil.v1 import vigil_pb2 as pb

EVENTS = 400
CACHE = 8


def frame(k: int) -> np.ndarray:
    img = np.zeros((120, 160, 3), np.uint8)
    img[20:100, 40 + k % 40:80 + k % 40] = 200
    return img


def item(img, event, t, stage):
    return OutgoingItem(camera_id="cam-1", event_id=event, priority=pb.SEMANTIC_FRAME, image=img, capture_time=t,
                        event_onset=t, detections=[Detection(40, 20, 80, 100, "person", 0.9, 1)],
                        hints={"event_stage": stage}, severity=0.5)


def drive(pol, link, t0, t1, step=0.01):
    t = t0
    while t < t1:
        for at, (cam, run, seq), arrive in link.acks_until(t):
            pol.on_ack(pb.Ack(camera_id=cam, sequence=seq, run_id=run, receive_time=arrive, edge_sent_time=0.0), at)
        while (p := pol.next_packet(t)) is not None:
            link.send(t, p.ByteSize(), (p.camera_id, p.run_id, p.sequence))
        t += step
    return t


def test_frames_held_are_bounded_by_the_cache_not_by_events_seen(tmp_path):
    pol = make_dat_policy(DatConfig(spool_dir=tmp_path / "spool", evidence_cache_events=CACHE))
    link = BottleneckLink(lambda t: 1_000_000.0, 0.005)
    alive = []
    t = 0.0
    for k in range(EVENTS):       # new, an update, a better frame at the end: as edge/events hands them over
        for stage in ("new", "update", "end"):
            img = frame(k + len(stage))
            alive.append(weakref.ref(img))
            pol.offer(item(img, f"ev{k}", t, stage), t)
            del img
            t = drive(pol, link, t, t + 0.2)
    t = drive(pol, link, t, t + 5.0)
    assert pol.pending() == 0 and pol.unacked() == 0      # everything went out and was acked
    gc.collect()
    held = sum(1 for r in alive if r() is not None)
    assert len(pol._events) == EVENTS                      # events are remembered (no re-alerts) ...
    assert held <= CACHE                                   # ... their frames only for the newest few


def test_shed_messages_are_counted_not_kept():
    sch = MultiStreamScheduler()
    payloads = []
    for k in range(500):
        p = np.zeros(1000, np.uint8)
        payloads.append(weakref.ref(p))
        sch.push(Message(priority=pb.CONTEXT, camera_id=f"c{k}", event_id="", severity=0.1, created=k,
                         est_bytes=10_000, payload=p))
        del p
        sch.shed(float(k), rate_bytes_per_s=10_000.0, horizon_s=2.0)
    gc.collect()
    assert sch.dropped == 500 - len(sch)
    assert sum(1 for r in payloads if r() is not None) == len(sch) <= 2
