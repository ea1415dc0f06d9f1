from cloud.alerts.manager import AlertManager
from cloud.answer.event_packet import EventPacket


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _packet(m, event="e1"):
    return m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id=event, event_onset=99.0,
                       labels={"person": 1}, detections=(), severity=0.8))


def test_detected_then_described_once():
    out, clock = [], Clock()
    m = AlertManager(out.append, describe_deadline_s=5, clock=clock)
    aid, new = _packet(m)
    assert new and [a.stage for a in out] == ["detected"]
    assert _packet(m) == (aid, False)                    # same event: no second alert
    assert m.claim_description(aid) and not m.claim_description(aid)
    assert m.on_description(aid, {"summary": "x"})
    assert not m.on_description(aid, {"summary": "again"})
    assert [(a.stage, a.alert_id) for a in out] == [("detected", aid), ("described", aid)]
    assert out[1].description_status == "ok"


def test_deadline_gives_timeout_and_late_description_is_dropped():
    out, clock = [], Clock()
    m = AlertManager(out.append, describe_deadline_s=5, clock=clock)
    aid, _ = _packet(m)
    clock.t += 4.9
    assert m.expire() == 0
    clock.t += 0.2
    assert m.expire() == 1
    assert out[-1].stage == "described" and out[-1].description_status == "timeout"
    assert out[-1].timeout_reason == "deadline"
    assert not m.on_description(aid, {"summary": "late"})
    assert len(out) == 2


def test_a_shed_description_is_a_timeout_with_reason_overloaded_sent_once():
    out, clock = [], Clock()
    m = AlertManager(out.append, describe_deadline_s=5, clock=clock)
    aid, _ = _packet(m)
    assert m.deadline_of(aid) == 105.0
    assert m.on_timeout(aid, "overloaded", "describe queue full")
    assert not m.on_timeout(aid, "deadline", "again")
    clock.t += 10
    assert m.expire() == 0
    assert [(a.stage, a.description_status, a.timeout_reason) for a in out] == [
        ("detected", "pending", ""), ("described", "timeout", "overloaded")]


def test_error_status():
    out = []
    m = AlertManager(out.append, describe_deadline_s=5, clock=Clock())
    aid, _ = _packet(m)
    m.on_description_failed(aid, "RuntimeError: boom")
    assert out[-1].description_status == "error" and "boom" in out[-1].description_error


def test_alert_ids_are_per_event():
    m = AlertManager(lambda a: None, clock=Clock())
    a1, _ = _packet(m, "e1")
    a2, _ = _packet(m, "e2")
    assert a1 != a2


def test_a_described_stage_that_cannot_be_committed_is_kept_and_committed_when_storage_returns():
    import sqlite3

    from cloud.alerts.manager import AlertManager
    now = [0.0]
    committed, disk_full = [], [False]

    def emit(alert):
        if disk_full[0]:
            raise sqlite3.OperationalError("database or disk is full")
        committed.append((alert.alert_id, alert.stage, alert.description_status))

    m = AlertManager(emit, describe_deadline_s=5.0, clock=lambda: now[0])
    a1, _ = m.on_packet(EventPacket(edge_id="e", camera_id="c", event_id="ev1", event_onset=0.0, severity=0.5))
    a2, _ = m.on_packet(EventPacket(edge_id="e", camera_id="c", event_id="ev2", event_onset=0.0, severity=0.5))
    assert m.claim_description(a1)
    disk_full[0] = True
    assert m.on_description(a1, {"summary": "a person"})     # taken, not yet committed
    now[0] = 10.0
    for _ in range(20):                                       # the expiry loop keeps ticking on a full disk
        m.expire()
    assert set(m.failed) == {a1, a2} and m.open_count == 2
    disk_full[0] = False
    m.expire()
    assert sorted(committed[2:]) == sorted([(a1, "described", "ok"), (a2, "described", "timeout")])
    assert m.open_count == 0 and m.failed == {}
