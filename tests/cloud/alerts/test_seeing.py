"""A model that cannot see images: its alert says so, carries only the edge's measurements and never
raises the threat level; a model that sees passes through unchanged (the negative control)."""
from cloud.alerts.manager import AlertManager
from cloud.alerts.seeing import ModelCard, honest_description, measured_narrative, measured_summary
from cloud.answer.event_packet import EventPacket
from cloud.models.capability import sees_images
from cloud.answer.schema import EventDescription

INVENTED = {"summary": "A man was killed by a car in a car accident", "threat_level": 2,
            "objects": [{"label": "man", "count": 1}], "action": "dying"}
HINTS = {"counts": {"person": 2, "car": 1}, "zone": "drive", "dwell_seconds": 4.200000047683716}


def _described(card):
    out = []
    m = AlertManager(out.append, clock=lambda: 100.0, model=lambda: card)
    aid, _ = m.on_packet(EventPacket(edge_id="edge", camera_id="cam", event_id="e1", event_onset=99.0,
                         labels={"person": 2, "car": 1}, detections=(), severity=0.9, hints=HINTS))
    m.on_description(aid, dict(INVENTED))
    return out[-1]


def test_a_blind_model_is_named_and_its_words_are_replaced_by_the_measurements():
    alert = _described(ModelCard("smollm_llava", sees_images=False))
    body = alert.to_dict()
    assert body["model"]["name"] == "smollm_llava" and body["model"]["sees_images"] is False
    assert "cannot see" in body["model"]["note"]
    desc = body["description"]
    assert desc["threat_level"] == 0
    assert desc["summary"] == "Edge detected 2 × person, 1 × car in zone drive for 4.2 s"
    assert "killed" not in alert.to_json().decode()
    assert desc["objects"] == [{"label": "person", "count": 2}, {"label": "car", "count": 1}]
    assert desc["narrative"] == "The edge detected 2 people and 1 car in zone drive for 4.2 s."
    EventDescription.model_validate(desc)        # still the schema receivers parse


def test_a_seeing_model_is_named_and_passes_through():
    alert = _described(ModelCard("Qwen/Qwen2.5-VL-3B-Instruct", sees_images=True))
    # A model that wrote no narrative gets one from its own words (here its summary, a sentence).
    assert alert.description == {**INVENTED, "narrative": "A man was killed by a car in a car accident."}
    assert alert.model == {"name": "Qwen/Qwen2.5-VL-3B-Instruct", "sees_images": True}


def test_a_seeing_model_keeps_the_narrative_it_wrote():
    written = {**INVENTED, "narrative": "A man lies on the drive beside a car."}
    out = honest_description(dict(written), ModelCard("m", True), labels={}, hints={})
    assert out == written


def test_a_blind_model_never_raises_the_threat_level_whatever_it_says():
    for level in (0, 1, 2):
        for severity_hints in ({}, HINTS, {"counts": {"person": 40}, "zone": "vault", "rule": "intrusion"}):
            out = honest_description({**INVENTED, "threat_level": level}, ModelCard("m", False),
                                     labels={"person": 1}, hints=severity_hints)
            assert out["threat_level"] == 0


def test_measured_summary_reads_like_a_sentence():
    assert measured_summary({"person": 1}, {}) == "Edge detected 1 × person"
    assert measured_summary({}, {"dwell_seconds": 75.4}) == "Edge detected motion for 75 s"


def test_measured_narrative_is_a_plain_sentence_of_the_measurements():
    assert measured_narrative({"person": 1}, {}) == "The edge detected 1 person."
    assert measured_narrative({}, {"dwell_seconds": 75.4}) == "The edge detected motion for 75 s."
    assert measured_narrative({"car": 3, "bus": 2}, {"zone": "gate"}) == "The edge detected 3 cars and 2 buses in zone gate."


def test_which_configured_models_see():
    assert not sees_images(None) and not sees_images("tiny:qwen2_5_vl") and not sees_images("stub:0.1")
    assert not sees_images("smollm_llava") and not sees_images("/models/x", family="smollm_llava")
    assert sees_images("vigil-bench-vlm") and sees_images("/models/Qwen2.5-VL-3B-Instruct")
