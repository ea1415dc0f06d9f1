"""DatPolicy end to end on a pure link model (no sockets): precedence across cameras, evidence
deadline, pressure, hints, outage spool and replay with the same sequence numbers."""
import cv2
import pytest

from benchmarks.netlink.linkmodel import BottleneckLink
from edge.detection import Detection
from edge.transmit.base import OutgoingItem
from edge.transmit.dat import DatConfig, make_dat_policy
from vigil.footage import clip_path
from vigil.v1 import vigil_pb2 as pb


@pytest.fixture(scope="module")
def image():
    cap = cv2.VideoCapture(str(clip_path("bikes.mp4")))
    ok, img = cap.read()
    cap.release()
    assert ok
    return img


def policy(tmp_path, **kw):
    return make_dat_policy(DatConfig(spool_dir=tmp_path / "spool", **kw))


def item(img, cam, event, t, sev=0.5, prio=pb.SEMANTIC_FRAME, stage="new"):
    return OutgoingItem(camera_id=cam, event_id=event, priority=prio, image=img, capture_time=t, event_onset=t,
                        detections=[Detection(250, 60, 330, 230, "person", 0.9, 1)] if event else [],
                        hints={"event_stage": stage, "counts": {"person": 1}} if event else {}, severity=sev)


def drive(pol, link, t0, t1, step=0.002, arrivals=None):
    t = t0
    while t < t1:
        for at, (cam, run, seq), arrive in link.acks_until(t):
            pol.on_ack(pb.Ack(camera_id=cam, sequence=seq, run_id=run, receive_time=arrive, edge_sent_time=0.0), at)
        while (p := pol.next_packet(t)) is not None:
            arrive = link.send(t, p.ByteSize(), (p.camera_id, p.run_id, p.sequence))
            if arrivals is not None:
                arrivals.append((arrive, p))
        t += step
    return t


def test_alerts_then_semantic_frames_across_cameras_and_evidence_in_time(tmp_path, image):
    pol = policy(tmp_path)
    link = BottleneckLink(lambda t: 32_000.0, 0.1)       # 256 kbit/s, 100 ms
    arrivals = []
    t = drive(pol, link, 0.0, 5.0)                       # idle warm-up
    for k in range(4):                                   # a scene change: 4 cameras at once
        pol.offer(item(image, f"cam{k}", f"ev{k}", t, sev=(0.2, 1.0, 0.5, 0.8)[k]), t)
        pol.offer(item(image, f"cam{k}", "", t, prio=pb.CONTEXT), t)
    drive(pol, link, t, t + 30.0, arrivals=arrivals)
    kinds = [p.priority for _, p in arrivals]
    last_alert = max(i for i, k in enumerate(kinds) if k == pb.ALERT_METADATA)
    first_semantic = min(i for i, k in enumerate(kinds) if k == pb.SEMANTIC_FRAME)
    assert last_alert < first_semantic
    sem = [p.camera_id for _, p in arrivals if p.priority == pb.SEMANTIC_FRAME]
    assert sem[0] == "cam1" and sem.index("cam3") < sem.index("cam2") < sem.index("cam0")  # by severity
    sem_at = {p.event_id: a for a, p in arrivals if p.priority == pb.SEMANTIC_FRAME}
    ev_at = {p.event_id: a for a, p in arrivals if p.priority == pb.EVIDENCE}
    assert set(ev_at) == set(sem_at) == {"ev0", "ev1", "ev2", "ev3"}
    assert max(sem_at.values()) - t < 1.5, "semantic frames of 4 cameras should cross 256 kbit/s in ~1 s"
    late = [e for e in ev_at if ev_at[e] - sem_at[e] > 0.5 + 0.3]   # 0.3 s: the cloud model's time
    assert not late


def test_pressure_drops_context_never_alerts(tmp_path, image):
    pol = policy(tmp_path)
    link = BottleneckLink(lambda t: 4_000.0, 0.1)       # 32 kbit/s: cannot carry it all
    arrivals = []
    t = 0.0
    for k in range(40):                                  # overload: 10 events, 30 context frames
        cam = f"cam{k % 4}"
        if k % 4 == 0:
            pol.offer(item(image, cam, f"ev{k}", t, sev=0.7), t)
        pol.offer(item(image, cam, "", t, prio=pb.CONTEXT), t)
        t = drive(pol, link, t, t + 0.25, arrivals=arrivals)
    drive(pol, link, t, t + 60.0, arrivals=arrivals)
    sent_alerts = {p.event_id for _, p in arrivals if p.priority == pb.ALERT_METADATA}
    assert sent_alerts == {f"ev{k}" for k in range(0, 40, 4)}
    assert pol.stats["shed_CONTEXT"] + sum(v for k, v in pol.stats.items() if k.startswith("coalesced_CONTEXT")) > 0
    assert pol.pending() == 0


def test_budget_hint_and_evidence_request_are_obeyed(tmp_path, image):
    pol = policy(tmp_path)
    link = BottleneckLink(lambda t: 1_000_000.0, 0.01)
    arrivals = []
    t = 0.0
    for _ in range(30):  # context traffic lets the estimator learn the fast link
        pol.offer(item(image, "c1", "", t, prio=pb.CONTEXT), t)
        t = drive(pol, link, t, t + 0.1)
    assert pol.rate(t) > 100_000
    pol.offer(item(image, "c1", "big", t), t)
    t = drive(pol, link, t, t + 3.0, arrivals=arrivals)
    big = next(p for _, p in arrivals if p.priority == pb.SEMANTIC_FRAME)
    pol.on_hint(pb.Hint(target_bitrate_bps=64_000, reason="cloud budget"), t)
    assert pol.rate(t) <= 8_000.0
    pol.offer(item(image, "c1", "small", t), t)
    t = drive(pol, link, t, t + 10.0, arrivals=arrivals)
    small = next(p for _, p in arrivals if p.priority == pb.SEMANTIC_FRAME and p.event_id == "small")
    assert len(small.jpeg) < len(big.jpeg) / 2
    n_ev = sum(1 for _, p in arrivals if p.priority == pb.EVIDENCE and p.event_id == "big")
    pol.on_hint(pb.Hint(evidence_event_ids=["big"]), t)
    drive(pol, link, t, t + 10.0, arrivals=arrivals)
    assert sum(1 for _, p in arrivals if p.priority == pb.EVIDENCE and p.event_id == "big") == n_ev + 1


def test_outage_spools_to_disk_and_replays_alerts_first_with_same_sequences(tmp_path, image):
    pol = policy(tmp_path)
    pol.offer(item(image, "c1", "e1", 0.0, sev=0.3), 0.0)
    first = pol.next_packet(0.0)                       # the alert left, never acknowledged
    assert first.priority == pb.ALERT_METADATA
    pol.on_disconnect(0.5)
    for k in range(3):                                 # events during the outage
        pol.offer(item(image, f"c{k + 2}", f"out{k}", 1.0 + k, sev=0.9), 1.0 + k)
        pol.offer(item(image, "c1", "", 1.0 + k, prio=pb.CONTEXT), 1.0 + k)
    assert len(pol.scheduler) == 0 and len(pol.spool) >= 1 + 3 * 3
    assert any((tmp_path / "spool").iterdir())
    link = BottleneckLink(lambda t: 125_000.0, 0.05)
    arrivals = []
    drive(pol, link, 60.0, 80.0, arrivals=arrivals)   # reconnected
    pkts = [p for _, p in arrivals]
    assert all(p.replayed for p in pkts)
    assert [p.priority for p in pkts[:4]] == [pb.ALERT_METADATA] * 4
    resent = [p for p in pkts if p.camera_id == "c1" and p.priority == pb.ALERT_METADATA]
    assert [p.sequence for p in resent] == [first.sequence]  # same (camera, sequence): the cloud de-duplicates
    assert {p.event_id for p in pkts if p.priority == pb.SEMANTIC_FRAME} == {"e1", "out0", "out1", "out2"}


def test_frames_kept_for_evidence_requests_are_bounded(tmp_path, image):
    pol = policy(tmp_path, evidence_cache_events=2)
    for k in range(5):
        pol.offer(item(image, "c1", f"e{k}", float(k)), float(k))
    pol.on_hint(pb.Hint(evidence_event_ids=["e0", "e4"]), 10.0)
    assert pol.stats["evidence_request_expired"] == 1 and pol.stats["evidence_requested"] == 1
    pol.offer(item(image, "c1", "e0", 11.0, stage="update"), 11.0)   # a known event never re-alerts
    assert pol.stats["events"] == 5


def test_semantic_frame_carries_the_boxes_without_drawing_them(tmp_path):
    """Boxes are drawn once, by the cloud on the image the model sees; the edge sends them as data.
    Every packet of the event takes its own sequence number."""
    import numpy as np

    black = np.zeros((272, 640, 3), np.uint8)
    pol = policy(tmp_path)
    pol.offer(item(black, "cam", "e1", 0.0), 0.0)
    arrivals = []
    drive(pol, BottleneckLink(lambda t: 100_000.0, 0.05), 0.0, 2.0, arrivals=arrivals)
    packets = [p for _, p in arrivals]
    semantic = next(p for p in packets if p.priority == pb.SEMANTIC_FRAME)
    decoded = cv2.imdecode(np.frombuffer(semantic.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert semantic.detections and semantic.detections[0].label == "person"
    assert int(decoded.max()) <= 2          # nothing drawn on the frame (JPEG of black is black)
    assert sorted(p.sequence for p in packets) == list(range(1, len(packets) + 1))


def _sent(pol, t0=0.0):
    link = BottleneckLink(lambda t: 200_000.0, 0.02)
    arrivals = []
    drive(pol, link, t0, t0 + 5.0, arrivals=arrivals)
    return [p for _, p in arrivals]


def test_the_end_carries_the_best_frame_when_it_is_not_the_first_one(tmp_path, image):
    """The object lifecycle (edge/events) ends an event with its best key frame: sent as a semantic
    frame flagged "end" when it differs from the first sighting's frame, never twice the same frame."""
    pol = policy(tmp_path)
    pol.offer(item(image, "cam", "ev1", 1.0), 1.0)
    pol.offer(item(image, "cam", "ev2", 1.0), 1.0)
    first = _sent(pol, 1.0)
    assert [p.hints.event_stage for p in first if p.priority == pb.SEMANTIC_FRAME] == ["new", "new"]
    pol.offer(item(image, "cam", "ev1", 3.0, stage="end"), 7.0)     # best frame seen at t=3: not the first
    pol.offer(item(image, "cam", "ev2", 1.0, stage="end"), 7.0)     # best frame was the first one
    later = _sent(pol, 7.0)
    sem = [(p.event_id, p.hints.event_stage) for p in later if p.priority == pb.SEMANTIC_FRAME]
    assert sem == [("ev1", "end")]
    assert sorted(p.event_id for p in later if p.priority == pb.ALERT_METADATA) == ["ev1", "ev2"]


def test_an_escalation_sends_a_semantic_frame_flagged_with_why(tmp_path, image):
    pol = policy(tmp_path)
    pol.offer(item(image, "cam", "ev1", 1.0), 1.0)
    _sent(pol, 1.0)
    up = item(image, "cam", "ev1", 2.0, stage="update")
    pol.offer(up, 7.0)                                               # a periodic update: context only
    esc = item(image, "cam", "ev1", 2.2, stage="update")
    esc.hints["escalation"] = "zone"
    pol.offer(esc, 7.0)
    sent = _sent(pol, 7.0)
    sem = [p for p in sent if p.priority == pb.SEMANTIC_FRAME]
    assert len(sem) == 1 and sem[0].hints.escalation == "zone" and sem[0].hints.event_stage == "update"
