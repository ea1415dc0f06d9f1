"""The object's alert stages (updated, ended) beside the description's (detected, described): pure, no I/O
but an in-memory outbox where delivery order is the point."""
import pytest

from cloud.alerts.alert import Alert
from cloud.alerts.manager import AlertManager
from cloud.alerts.outbox import Outbox
from cloud.answer.event_packet import EventPacket


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _hints(stage, **kw):
    return {"event_stage": stage, "escalation": "", "ended_at": 0.0, "duration_s": 0.0, "merged_into": "", **kw}


def _packet(m, stage, seq, event="e1", **kw):
    return m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id=event, event_onset=99.0,
                                   labels={"person": 1}, severity=0.8, hints=_hints(stage, **kw), sequence=seq))


def _stages(out):
    return [a.stage for a in out]


def test_new_escalations_and_end_give_detected_updated_ended():
    out = []
    m = AlertManager(out.append, describe_deadline_s=30, clock=Clock())
    aid, new = _packet(m, "new", 1)
    assert new and _stages(out) == ["detected"]
    _packet(m, "update", 5)                                  # a periodic update: not a stage
    _packet(m, "update", 7, escalation="zone")
    _packet(m, "update", 9, escalation="dwell")
    _packet(m, "end", 12, ended_at=111.5, duration_s=12.5)
    assert _stages(out) == ["detected", "updated", "updated", "ended"]
    assert [a.escalation for a in out[1:3]] == ["zone", "dwell"]
    assert [a.idempotency_key for a in out] == [f"{aid}.detected", f"{aid}.updated.7", f"{aid}.updated.9",
                                                f"{aid}.ended"]
    ended = out[-1]
    assert (ended.ended_at, ended.duration_s, ended.merged_into) == (111.5, 12.5, "")
    assert all(a.alert_id == aid and a.event_id == "e1" for a in out)


def test_resent_packets_do_not_repeat_stages():
    out = []
    m = AlertManager(out.append, clock=Clock())
    _packet(m, "new", 1)
    for _ in range(3):
        _packet(m, "update", 7, escalation="zone")
    _packet(m, "end", 12, ended_at=111.5, duration_s=12.5)
    _packet(m, "end", 12, ended_at=111.5, duration_s=12.5)
    _packet(m, "end", 13, ended_at=111.5, duration_s=12.5)   # the end's best snapshot frame: same end
    assert _stages(out) == ["detected", "updated", "ended"]


def test_an_update_after_the_end_is_not_sent():
    out = []
    m = AlertManager(out.append, clock=Clock())
    _packet(m, "new", 1)
    _packet(m, "end", 12, ended_at=111.5, duration_s=12.5)
    _packet(m, "update", 9, escalation="zone")               # overtaken on the wire by the end
    assert _stages(out) == ["detected", "ended"]


def test_a_merged_duplicate_ends_naming_the_event_it_joined():
    out = []
    m = AlertManager(out.append, clock=Clock())
    _packet(m, "new", 1, event="e2")
    _packet(m, "end", 4, event="e2", ended_at=101.0, duration_s=1.0, merged_into="e1")
    assert out[-1].stage == "ended" and out[-1].merged_into == "e1"


def test_detected_comes_first_even_when_the_end_arrives_first():
    out = []
    m = AlertManager(out.append, clock=Clock())
    aid, new = _packet(m, "end", 12, ended_at=111.5, duration_s=12.5)
    assert new and _stages(out) == ["detected", "ended"]
    assert m.is_open(aid)                                    # the description is still owed


def test_a_failed_commit_leaves_the_stage_for_the_resend():
    out, fail = [], [True]

    def emit(a):
        if a.stage == "updated" and fail[0]:
            fail[0] = False
            raise OSError("disk full")
        out.append(a)
    m = AlertManager(emit, clock=Clock())
    _packet(m, "new", 1)
    with pytest.raises(OSError):
        _packet(m, "update", 7, escalation="zone")
    _packet(m, "update", 7, escalation="zone")               # the edge resends the unacknowledged packet
    assert _stages(out) == ["detected", "updated"]


def test_description_is_independent_of_the_end_and_the_end_carries_it_as_it_stands():
    out, clock = [], Clock()
    m = AlertManager(out.append, describe_deadline_s=5, clock=clock)
    aid, _ = _packet(m, "new", 1)
    _packet(m, "end", 3, ended_at=101.0, duration_s=2.0)     # the object left before the model answered
    assert out[-1].stage == "ended" and out[-1].description_status == "pending"
    assert m.claim_description(aid) and m.on_description(aid, {"summary": "a person"})
    assert _stages(out) == ["detected", "ended", "described"]
    assert out[-1].description_status == "ok"
    # and the other way round: described first, then updates and the end carry the description
    aid2, _ = _packet(m, "new", 20, event="e2")
    m.on_description(aid2, {"summary": "a cyclist"})
    _packet(m, "update", 21, event="e2", escalation="zone")
    _packet(m, "end", 22, event="e2", ended_at=104.0, duration_s=3.0)
    tail = [a for a in out if a.alert_id == aid2]
    assert _stages(tail) == ["detected", "described", "updated", "ended"]
    assert tail[-1].description == {"summary": "a cyclist"} and tail[-1].description_status == "ok"
    assert tail[-1].hints["event_stage"] == "end"


def test_timeout_still_comes_for_an_ended_object():
    out, clock = [], Clock()
    m = AlertManager(out.append, describe_deadline_s=5, clock=clock)
    _packet(m, "new", 1)
    _packet(m, "end", 3, ended_at=101.0, duration_s=2.0)
    clock.t += 6
    assert m.expire() == 1
    assert out[-1].stage == "described" and out[-1].description_status == "timeout"


def test_a_restarted_manager_sends_a_resent_update_once():
    """After a restart the manager does not remember updates; the outbox keys them and keeps one."""
    box = Outbox(None)
    first = AlertManager(lambda a: box.add(a, ["hook"]), clock=Clock(), lookup=box.latest_stage)
    aid, _ = _packet(first, "new", 1)
    _packet(first, "update", 7, escalation="zone")
    second = AlertManager(lambda a: box.add(a, ["hook"]), clock=Clock(), lookup=box.latest_stage)
    _, new = _packet(second, "update", 7, escalation="zone")
    assert not new
    assert [r["stage"] for r in box.deliveries_of(aid)] == ["detected", "updated"]
    assert second.is_open(aid)    # the lookup sees the description still owed, not the update


def _stage(stage, seq=0, aid="a1"):
    return Alert(alert_id=aid, stage=stage, edge_id="e", camera_id="c", event_id="ev", event_onset=1.0,
                 labels={}, detections=[], severity=0.5, sequence=seq)


def _due(box, now=1e12):
    return [d.alert.idempotency_key for d in box.due("hook", now, 10)]


def test_outbox_order_updates_by_sequence_then_end_and_the_end_never_waits_for_the_description():
    box = Outbox(None, clock=lambda: 0.0)
    for a in (_stage("detected"), _stage("updated", 9), _stage("updated", 7), _stage("ended")):
        assert box.add(a, ["hook"])
    assert not box.add(_stage("updated", 9), ["hook"])        # the same update again: one stage
    assert _due(box) == ["a1.detected"]
    box.delivered("a1.detected", "hook")
    assert _due(box) == ["a1.updated.7"]                      # the edge's order, not arrival order
    box.delivered("a1.updated.7", "hook")
    assert _due(box) == ["a1.updated.9"]
    box.delivered("a1.updated.9", "hook")
    assert _due(box) == ["a1.ended"]                          # no description yet: the end goes anyway
    box.delivered("a1.ended", "hook")
    box.add(_stage("described"), ["hook"])
    assert _due(box) == ["a1.described"]


def test_outbox_a_pending_description_never_holds_the_end_back():
    box = Outbox(None, clock=lambda: 0.0)
    box.add(_stage("detected"), ["hook"])
    box.delivered("a1.detected", "hook")
    box.add(_stage("described"), ["hook"])
    box.add(_stage("ended"), ["hook"])
    assert _due(box) == ["a1.ended"]      # ended is below described: it is due at once
    box.delivered("a1.ended", "hook")
    assert _due(box) == ["a1.described"]
    # what a restarted manager looks up is the description's state, whatever the object did
    assert box.latest_stage("a1").stage == "described"


def test_the_order_rules_receivers_and_benchmarks_check():
    from testkit.stages import complete, in_order
    assert complete(["detected", "described"])
    assert complete(["detected", "updated", "updated", "ended", "described"])
    assert complete(["detected", "described", "updated", "ended"])
    assert in_order(["detected", "updated"]) and not complete(["detected", "updated", "ended"])
    assert not in_order(["described", "detected"]) and not in_order([])
    assert not in_order(["detected", "ended", "updated"])           # an update after the end
    assert not in_order(["detected", "ended", "ended"]) and not complete(None)


def test_the_sample_receiver_prints_the_objects_stages_in_words():
    from vigil_tools.webhook_echo import format_alert
    base = _stage("updated", 7).to_dict()
    assert format_alert({**base, "escalation": "zone"}).endswith("escalation: zone")
    ended = {**_stage("ended").to_dict(), "duration_s": 4.25, "merged_into": "cam-1-3"}
    assert format_alert(ended).endswith("object left after 4.2 s, merged into cam-1-3")


def test_a_filtered_endpoint_gets_all_of_an_alerts_stages_or_none():
    """An escalation to a more severe rule does not make a min_severity endpoint see an update of an alert
    it never got; the packet's own severity is in the stage's hints."""
    from cloud.alerts.filters import AlertFilter
    out = []
    m = AlertManager(out.append, clock=Clock())
    m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0, labels={"person": 1},
                detections=(), severity=0.3, hints=_hints("new"), sequence=1))
    m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0, labels={"person": 2},
                detections=(), severity=0.9, hints=_hints("update", escalation="rule", severity=0.9), sequence=4))
    m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0, labels={},
                detections=(), severity=0.9, hints=_hints("end", ended_at=110.0, duration_s=11.0), sequence=8))
    assert _stages(out) == ["detected", "updated", "ended"] and out[1].hints["severity"] == 0.9
    severe, people = AlertFilter(min_severity=0.5), AlertFilter(labels=frozenset({"person"}))
    assert [severe.matches(a) for a in out] == [False] * 3
    assert [people.matches(a) for a in out] == [True] * 3
