"""MQTT alert sink with Frigate's topics and meaning, for Home Assistant and other MQTT users.

Frigate (blakeblackshear/frigate) publishes on ``frigate/events`` one message per change of a
tracked object, ``{"type": "new"|"update"|"end", "before": {...}, "after": {...}}``: ``new`` when
the object is first confirmed, ``update`` while it is tracked, ``end`` when it has left; a GenAI
description arrives separately on ``frigate/tracked_object_update`` as
``{"type": "description", "id": <event id>, "description": "..."}``. Automations key on
``type`` and ``after.camera``/``after.label``, and on ``tracked_object_update`` for descriptions.
Ours, under ``topic_prefix`` (default ``vigil``), with the same meaning (docs/events.md):

* ``<prefix>/events``: ``new`` for stage ``detected`` (the edge's first confirmed sighting),
  ``update`` for stage ``updated`` (an escalation of the object) and for a description that
  arrives while the object is still in view (``after.description`` set), ``end`` for stage
  ``ended`` (the object left: ``after.end_time``), its last message there: a description that
  arrives after the end goes to ``tracked_object_update`` only, as Frigate's do;
  ``before`` is the previous ``after`` (null for ``new``); ``after.id`` is the alert id and
  ``after.idempotency_key`` the stage's key (retries repeat it);
* ``<prefix>/tracked_object_update``: ``{"type": "description", "id", "camera", "label",
  "description", "description_status", ...}`` for every ``described`` stage, ``ok`` or not
  (``timeout``/``error`` say why there is no description), and for every ``redescribed`` stage (a second
  description, on escalation or at the end: ``reason`` says which), as Frigate sends a regenerated one;
* ``<prefix>/<camera>/alert``: the latest stage of that camera's latest alert, retained;
* ``<prefix>/available``: ``online`` (retained), ``offline`` as the client's last will.

Published with QoS 1 through paho-mqtt; ``send`` returns only after the broker's PUBACK, so the
dispatcher's retry and outbox guarantees hold as for webhooks.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict

from cloud.alerts.alert import Alert
from cloud.alerts.sinks.base import AlertSink, DeliveryError

STAGE_TYPE = {"detected": "new", "updated": "update", "ended": "end"}   # alert stage -> Frigate event type
DESCRIPTION_TOPIC = "tracked_object_update"
DESCRIPTION_STAGES = ("described", "redescribed")   # published on DESCRIPTION_TOPIC
AVAILABLE, ONLINE, OFFLINE = "available", "online", "offline"
KEEPALIVE_S = 30
CLOSE_TIMEOUT_S = 1.0      # how long a closing sink waits to say "offline" itself
MAX_OPEN_ALERTS = 10_000   # `before` remembered per alert until its last stage (bounded: oldest forgotten)


def _label(alert: Alert) -> str:
    return max(alert.labels, key=alert.labels.get) if alert.labels else ""


def event_type(alert: Alert) -> str:
    """The Frigate event type an alert stage is: a description is an ``update`` of a tracked object;
    the object's end is its ``ended`` stage (a description never ends it: the end comes from the edge)."""
    return STAGE_TYPE.get(alert.stage, "update")


def event_payload(alert: Alert, before: dict | None) -> dict:
    after = {"id": alert.alert_id, "idempotency_key": alert.idempotency_key, "camera": alert.camera_id,
             "label": _label(alert), **alert.to_dict()}
    ended_at = alert.ended_at or (alert.hints or {}).get("ended_at")
    if ended_at:
        after["end_time"] = ended_at
    return {"type": event_type(alert), "before": before, "after": after}


def description_payload(alert: Alert) -> dict:
    """Frigate's ``tracked_object_update`` for a GenAI description, with our status beside it: its
    ``description`` text is the narrative (what Frigate's GenAI writes), the summary where there is none."""
    d = alert.description or {}
    text = str(d.get("narrative") or d.get("summary", "")) if isinstance(d, dict) else str(d)
    return {"type": "description", "id": alert.alert_id, "event_id": alert.event_id, "camera": alert.camera_id,
            "label": _label(alert), "description": text,
            "description_json": alert.description, "description_status": alert.description_status,
            "description_error": alert.description_error, "idempotency_key": alert.idempotency_key,
            "reason": alert.redescribe_reason if alert.stage == "redescribed" else ""}


class MqttSink(AlertSink):
    def __init__(self, host: str, port: int = 1883, topic_prefix: str = "vigil", *, username: str | None = None,
                 password: str | None = None, client_id: str | None = None, qos: int = 1, timeout_s: float = 5.0,
                 name: str | None = None):
        import paho.mqtt.client as mqtt

        self.name = name or f"mqtt:{host}:{port}/{topic_prefix}"
        self.prefix, self.qos, self.timeout_s = topic_prefix.rstrip("/"), qos, timeout_s
        self._last: OrderedDict[str, dict] = OrderedDict()   # alert id -> last `after` (the next stage's `before`)
        self._ended: OrderedDict[str, None] = OrderedDict()  # alerts whose `end` went out (bounded as _last)
        self._lock = threading.Lock()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "")
        if username:
            self._client.username_pw_set(username, password)
        self._client.will_set(f"{self.prefix}/{AVAILABLE}", OFFLINE, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.connect_async(host, port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.publish(f"{self.prefix}/{AVAILABLE}", ONLINE, qos=1, retain=True)

    def _publish(self, alert: Alert) -> None:
        with self._lock:
            before = self._last.get(alert.alert_id)
            payload = event_payload(alert, before)
            after_end = alert.stage in DESCRIPTION_STAGES and alert.alert_id in self._ended
        body = json.dumps(payload, separators=(",", ":"))
        if not self._client.is_connected():
            raise DeliveryError(f"{self.name}: not connected to the broker")
        messages = [(f"{self.prefix}/events", body, False), (f"{self.prefix}/{alert.camera_id}/alert", body, True)]
        if after_end:   # the object's `end` was its last event; the description is its own message only
            messages = messages[1:]
        if alert.stage in DESCRIPTION_STAGES:   # the description as its own message, before the event's update
            messages.insert(0, (f"{self.prefix}/{DESCRIPTION_TOPIC}",
                                json.dumps(description_payload(alert), separators=(",", ":")), False))
        for topic, text, retain in messages:
            info = self._client.publish(topic, text, qos=self.qos, retain=retain)
            info.wait_for_publish(self.timeout_s)
            if not info.is_published():
                raise DeliveryError(f"{self.name}: no PUBACK for {topic} within {self.timeout_s:g}s (rc {info.rc})")
        with self._lock:
            if payload["type"] == "end":
                self._last.pop(alert.alert_id, None)
                self._ended[alert.alert_id] = None
                while len(self._ended) > MAX_OPEN_ALERTS:
                    self._ended.popitem(last=False)
            elif not after_end:
                self._last[alert.alert_id] = payload["after"]
                while len(self._last) > MAX_OPEN_ALERTS:
                    self._last.popitem(last=False)

    async def send(self, alert: Alert) -> None:
        try:
            await asyncio.to_thread(self._publish, alert)
        except DeliveryError:
            raise
        except (RuntimeError, ValueError, OSError) as exc:  # paho raises these when the link drops mid-publish
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._client.is_connected():
            info = self._client.publish(f"{self.prefix}/{AVAILABLE}", OFFLINE, qos=1, retain=True)
            try:
                await asyncio.to_thread(info.wait_for_publish, CLOSE_TIMEOUT_S)
            except (RuntimeError, ValueError):  # the link dropped meanwhile; the last will says offline
                pass
        self._client.disconnect()
        self._client.loop_stop()
