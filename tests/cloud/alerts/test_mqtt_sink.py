"""The MQTT sink against a real Mosquitto broker started by the test: Frigate-style topics, order, QoS 1."""
import asyncio
import json
import shutil
import subprocess
import time

import pytest

from cloud.alerts.alert import Alert
from cloud.alerts.dispatcher import Dispatcher, RetryPolicy
from cloud.alerts.outbox import Outbox

from tests.helpers import free_port, wait_for
from tests.helpers.mqtt import broker, subscribed  # noqa: F401 (broker: a fixture)

paho = pytest.importorskip("paho.mqtt.client")
pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (.ci/run installs it)")



def _alert(stage, aid="a1", **hints):
    return Alert(alert_id=aid, stage=stage, edge_id="e", camera_id="door", event_id="ev", event_onset=1.0,
                 labels={"person": 2}, detections=[], severity=0.7, hints=dict(hints),
                 description={"summary": "two people"} if stage == "described" else None,
                 description_status="ok" if stage == "described" else "pending")


def _published(broker, alerts, arrived):
    """Publish ``alerts`` through a sink; returns what a `vigil/#` subscriber got once ``arrived(got)`` holds (or 5 s)."""
    from cloud.alerts.sinks.mqtt import MqttSink
    with subscribed(broker) as raw:
        async def go():
            # The sink's own contract, stage by stage (the end-to-end path is the test below and
            # tests/integration/test_mqtt_lifecycle.py).
            sink = MqttSink("127.0.0.1", broker)
            end = time.time() + 5
            while not sink._client.is_connected() and time.time() < end:
                await asyncio.sleep(0.05)
            for a in alerts:
                await sink.send(a)
            await sink.close()
        asyncio.run(go())
        wait_for(lambda: arrived(_decoded(raw)), 5)
    return _decoded(raw)


def _decoded(raw):
    return [(t, p.decode(), r) for t, p, r in raw]


def _on(got, topic):
    return [json.loads(p) for t, p, _ in got if t == topic]


def test_events_follow_the_object_and_the_description_is_its_own_message(broker):
    """Frigate's meaning: new when first seen, update while tracked (the description arriving mid-way
    is an update, and a tracked_object_update of type description), end when the object left."""
    alerts = [_alert("detected", event_stage="new"), _alert("described", event_stage="new"),
              _alert("updated", event_stage="update", escalation="zone"),
              _alert("ended", event_stage="end", ended_at=12.5, duration_s=11.5)]
    got = _published(broker, alerts, lambda g: len(_on(g, "vigil/events")) >= 4)
    events = _on(got, "vigil/events")
    assert [e["type"] for e in events] == ["new", "update", "update", "end"]
    assert events[0]["before"] is None and all(e["before"]["id"] == "a1" for e in events[1:])
    assert events[1]["after"]["description"] == {"summary": "two people"}
    assert events[2]["after"]["hints"]["escalation"] == "zone"
    assert events[3]["after"]["end_time"] == 12.5
    (desc,) = _on(got, "vigil/tracked_object_update")
    assert desc["type"] == "description" and desc["id"] == "a1" and desc["description"] == "two people"
    assert desc["camera"] == "door" and desc["label"] == "person" and desc["description_status"] == "ok"


def test_a_description_after_the_end_is_its_own_message_only(broker):
    """The object's end (stage ``ended``) is its last event; a description that comes later (made from
    the end packet's best snapshot, or just slow) goes to tracked_object_update, as Frigate's do."""
    alerts = [_alert("detected", event_stage="new"), _alert("ended", event_stage="end", ended_at=3.0),
              _alert("described", event_stage="end")]
    got = _published(broker, alerts, lambda g: any('"described"' in p for t, p, _ in g if t == "vigil/door/alert"))
    assert [e["type"] for e in _on(got, "vigil/events")] == ["new", "end"]
    assert len(_on(got, "vigil/tracked_object_update")) == 1
    retained = [json.loads(p) for t, p, _ in got if t == "vigil/door/alert"]
    assert retained[-1]["after"]["stage"] == "described"   # the camera's latest stage is still kept


def test_a_second_description_is_a_tracked_object_update_with_its_reason(broker):
    """A ``redescribed`` stage (on escalation, or at the end from the best snapshot) is published as Frigate
    publishes a regenerated GenAI description: tracked_object_update, and an update while the object is in view."""
    again = Alert(**{**_alert("described").to_dict(), "stage": "redescribed", "sequence": 7,
                     "redescribe_reason": "escalation", "description": {"summary": "two people at the gate"}})
    at_end = Alert(**{**again.to_dict(), "sequence": 9, "redescribe_reason": "end",
                      "description": {"summary": "two people in red coats"}})
    alerts = [_alert("detected", event_stage="new"), _alert("described", event_stage="new"), again,
              _alert("ended", event_stage="end", ended_at=3.0), at_end]
    got = _published(broker, alerts, lambda g: len(_on(g, "vigil/tracked_object_update")) >= 3)
    assert [e["type"] for e in _on(got, "vigil/events")] == ["new", "update", "update", "end"]
    descs = _on(got, "vigil/tracked_object_update")
    assert [(d["type"], d["description"], d["reason"]) for d in descs] == [
        ("description", "two people", ""), ("description", "two people at the gate", "escalation"),
        ("description", "two people in red coats", "end")]
    assert descs[2]["idempotency_key"] == "a1.redescribed.9"


def test_alert_stages_reach_a_subscriber_in_frigate_shape(broker):
    from cloud.alerts.sinks.mqtt import MqttSink
    with subscribed(broker) as raw:
        async def go():
            sink = MqttSink("127.0.0.1", broker)
            d = Dispatcher(Outbox(None), [sink], RetryPolicy(backoff_initial_s=0.05, backoff_max_s=0.1))
            d.start()
            d.submit(_alert("detected"))
            d.submit(_alert("described"))
            assert await d.drain(10)
            await d.close()
        asyncio.run(go())
        wait_for(lambda: sum(1 for t, _, _ in raw if t == "vigil/events") >= 2, 5)
    got = _decoded(raw)
    events = [json.loads(p) for t, p, _ in got if t == "vigil/events"]
    assert [e["type"] for e in events] == ["new", "update"]          # described while in view: an update
    assert events[0]["before"] is None and events[1]["before"]["id"] == "a1"
    assert events[1]["after"]["camera"] == "door" and events[1]["after"]["label"] == "person"
    assert events[1]["after"]["description"] == {"summary": "two people"}
    assert ("vigil/available", "online", False) in got or ("vigil/available", "online", True) in got
    assert any(t == "vigil/door/alert" for t, _, _ in got)
    assert ("vigil/available", "offline", False) in got               # said on close


def test_broker_down_is_retried_until_it_is_up():
    from cloud.alerts.sinks.mqtt import MqttSink
    port = free_port()

    async def go():
        sink = MqttSink("127.0.0.1", port)
        d = Dispatcher(Outbox(None), [sink], RetryPolicy(backoff_initial_s=0.05, backoff_max_s=0.2,
                                                           breaker_open_initial_s=0.1, breaker_open_max_s=0.2))
        d.start()
        d.submit(_alert("detected"))
        await asyncio.sleep(1.0)
        assert d.pending() == 1 and d.stats["retries"] >= 1
        proc = subprocess.Popen(["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert await d.drain(15)
        finally:
            await d.close()
            proc.kill()
            proc.wait()
    asyncio.run(go())


def test_the_description_message_carries_the_narrative_as_frigates_genai_text():
    from cloud.alerts.sinks.mqtt import description_payload

    told = Alert(**{**_alert("described").to_dict(),
                    "description": {"summary": "two people", "narrative": "Two people wait at the door."}})
    assert description_payload(told)["description"] == "Two people wait at the door."
    assert description_payload(told)["description_json"]["narrative"] == "Two people wait at the door."
    assert description_payload(_alert("described"))["description"] == "two people"   # stored before it: the summary
