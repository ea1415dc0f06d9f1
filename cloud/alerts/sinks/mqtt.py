"""MQTT alert sink with Frigate-style topics, for Home Assistant and other MQTT users.

Frigate (blakeblackshear/frigate, ``frigate/events``) publishes ``{"type": "new"|"update"|"end",
"before": {...}, "after": {...}}`` per event; automations written for it key on ``type`` and
``after.camera``/``after.label``. Ours, under ``topic_prefix`` (default ``vigil``):

* ``<prefix>/events``: per alert stage, ``type`` ``new`` for ``detected`` and ``end`` for
  ``described`` (the alert's last word; ``after.description`` holds the model's answer, or
  ``description_status`` says timeout/error), ``before`` the previous stage (null for ``new``);
  ``after.id`` is the alert id and ``after.idempotency_key`` the stage's key (retries repeat it);
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

STAGE_TYPE = {"detected": "new", "described": "end"}
AVAILABLE, ONLINE, OFFLINE = "available", "online", "offline"
KEEPALIVE_S = 30
CLOSE_TIMEOUT_S = 1.0      # how long a closing sink waits to say "offline" itself
MAX_OPEN_ALERTS = 10_000   # `before` remembered per alert until its last stage (bounded: oldest forgotten)


def event_payload(alert: Alert, before: dict | None) -> dict:
    after = {"id": alert.alert_id, "idempotency_key": alert.idempotency_key, "camera": alert.camera_id,
             "label": max(alert.labels, key=alert.labels.get) if alert.labels else "",
             **alert.to_dict()}
    return {"type": STAGE_TYPE[alert.stage], "before": before, "after": after}


class MqttSink(AlertSink):
    def __init__(self, host: str, port: int = 1883, topic_prefix: str = "vigil", *, username: str | None = None,
                 password: str | None = None, client_id: str | None = None, qos: int = 1, timeout_s: float = 5.0,
                 name: str | None = None):
        import paho.mqtt.client as mqtt

        self.name = name or f"mqtt:{host}:{port}/{topic_prefix}"
        self.prefix, self.qos, self.timeout_s = topic_prefix.rstrip("/"), qos, timeout_s
        self._last: OrderedDict[str, dict] = OrderedDict()   # alert id -> last `after` (the next stage's `before`)
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
        body = json.dumps(payload, separators=(",", ":"))
        if not self._client.is_connected():
            raise DeliveryError(f"{self.name}: not connected to the broker")
        for topic, retain in ((f"{self.prefix}/events", False), (f"{self.prefix}/{alert.camera_id}/alert", True)):
            info = self._client.publish(topic, body, qos=self.qos, retain=retain)
            info.wait_for_publish(self.timeout_s)
            if not info.is_published():
                raise DeliveryError(f"{self.name}: no PUBACK for {topic} within {self.timeout_s:g}s (rc {info.rc})")
        with self._lock:
            if alert.stage == "described":
                self._last.pop(alert.alert_id, None)
            else:
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
