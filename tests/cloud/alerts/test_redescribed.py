"""The `redescribed` stage: a second description, only after the first is `ok`, once per (alert, edge packet),
ordered after `described` in the outbox, and never required of a complete alert."""
from cloud.alerts.alert import Alert
from cloud.alerts.manager import AlertManager
from cloud.alerts.outbox import Outbox, stage_order
from cloud.answer.event_packet import EventPacket
from cloud.answer.redescribe_policy import FrameView, RedescribeRule
from testkit.stages import complete, in_order

FIRST = FrameView((("person", 1),), 0.2)
BETTER = FrameView((("person", 1),), 0.4)
RULE = RedescribeRule()


def _manager():
    out = []
    m = AlertManager(out.append, describe_deadline_s=5, clock=lambda: 100.0)
    aid, _ = m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0,
                                     labels={"person": 1}, severity=0.8))
    return m, aid, out


def _reason(m, aid, stage="end", escalation="", sequence=9, view=BETTER):
    return m.redescribe_reason(aid, RULE, stage=stage, escalation=escalation, sequence=sequence, view=view)


def test_never_before_the_first_description_is_done_nor_after_it_failed():
    m, aid, _ = _manager()
    assert m.claim_description(aid)
    m.note_view(aid, FIRST)
    assert _reason(m, aid) is None and _reason(m, aid, "update", "zone", 5) is None   # still describing
    m.on_description_failed(aid, "model exploded")
    assert _reason(m, aid) is None                       # the alert said why there is no description


def test_once_per_edge_packet_after_described_and_it_carries_the_new_description():
    m, aid, out = _manager()
    m.claim_description(aid)
    m.note_view(aid, FIRST)
    m.on_description(aid, {"summary": "a person"})
    assert _reason(m, aid, "update", "zone", 5, FIRST) == "escalation"
    assert m.on_redescription(aid, reason="escalation", sequence=5, description={"summary": "a person at the gate"},
                              view=FIRST)
    assert not m.on_redescription(aid, reason="escalation", sequence=5, description={"summary": "again"})
    assert _reason(m, aid, "update", "zone", 5, FIRST) is None          # this packet was described again
    assert _reason(m, aid) == "end"                                     # a better best snapshot at the end
    assert m.on_redescription(aid, reason="end", sequence=9, description={"summary": "a person in red"}, view=BETTER)
    assert _reason(m, aid, sequence=10, view=BETTER) is None            # judged against the latest described view
    stages = [(a.stage, a.redescribe_reason, a.sequence) for a in out]
    assert stages == [("detected", "", 0), ("described", "", 0), ("redescribed", "escalation", 5),
                      ("redescribed", "end", 9)]
    assert out[2].description["summary"] == "a person at the gate" and out[2].description_status == "ok"
    assert out[1].description["summary"] == "a person"                 # `described` is never changed
    assert [a.idempotency_key for a in out[2:]] == [f"{aid}.redescribed.5", f"{aid}.redescribed.9"]
    # later lifecycle stages carry the description as it now stands, without the second description's fields
    m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0, labels={"person": 1},
                            severity=0.8, hints={"event_stage": "end", "ended_at": 104.0, "duration_s": 5.0},
                            sequence=11))
    assert out[-1].stage == "ended" and out[-1].description["summary"] == "a person in red"
    assert out[-1].redescribe_reason == "" and out[-1].sequence == 0


def test_an_escalation_after_the_end_is_not_described_again():
    m, aid, _ = _manager()
    m.claim_description(aid)
    m.note_view(aid, FIRST)
    m.on_description(aid, {"summary": "a person"})
    m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0, labels={"person": 1},
                            severity=0.8, hints={"event_stage": "end"}, sequence=8))
    assert _reason(m, aid, "update", "zone", 9) is None


def test_a_second_description_whose_commit_fails_is_dropped_not_retried():
    def emit(alert):
        if alert.stage == "redescribed":
            raise OSError("disk full")
    m = AlertManager(emit, clock=lambda: 100.0)
    aid, _ = m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0,
                                     severity=0.8))
    m.claim_description(aid)
    m.on_description(aid, {"summary": "x"})
    assert not m.on_redescription(aid, reason="end", sequence=3, description={"summary": "y"})
    assert m.open_count == 0 and not m.failed


def _alert(stage, seq=0):
    return Alert(alert_id="a", stage=stage, edge_id="e", camera_id="c", event_id="v", event_onset=0.0,
                 labels={}, detections=[], severity=0.5, sequence=seq)


def test_redescribed_goes_after_described_in_the_outbox_in_the_edges_order_and_once_per_packet(tmp_path):
    assert stage_order(_alert("described")) < stage_order(_alert("redescribed", 5)) < stage_order(_alert("redescribed", 9))
    assert stage_order(_alert("redescribed", 2**64)) < 2**63            # SQLite's integers
    box = Outbox(tmp_path / "o.db")
    assert box.add(_alert("redescribed", 5), ["s"]) and not box.add(_alert("redescribed", 5), ["s"])
    assert box.add(_alert("redescribed", 9), ["s"])


def test_a_receiver_needs_no_second_description_and_never_sees_one_before_the_first():
    assert complete(["detected", "described"])
    assert complete(["detected", "described", "redescribed", "ended", "redescribed"])
    assert not in_order(["detected", "redescribed", "described"])
    assert not in_order(["detected", "ended", "redescribed"])
