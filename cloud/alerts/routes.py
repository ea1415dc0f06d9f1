"""The alert sinks and retry policy a configuration names (shared by the single process and the delivery role)."""
from __future__ import annotations

import logging

from cloud.alerts.dispatcher import RetryPolicy, Route
from cloud.alerts.filters import AlertFilter
from cloud.alerts.sinks.webhook import WebhookSink
from vigil.redact import register_secret

log = logging.getLogger("vigil.cloud")


def build_routes(a) -> list[Route]:
    """One route per configured webhook and MQTT broker (``a``: the ``alerts`` section); secrets are
    registered for redaction first."""
    routes = []
    for w in a.webhooks:
        register_secret(w.secret)
        sink = WebhookSink(str(w.url), w.secret, w.timeout_s, name=w.name)
        routes.append(Route(sink, AlertFilter(frozenset(w.cameras), frozenset(w.labels), w.min_severity)))
    for m in a.mqtt:
        from cloud.alerts.sinks.mqtt import MqttSink  # paho-mqtt only when MQTT is configured
        register_secret(m.password)
        sink = MqttSink(m.host, m.port, m.topic_prefix, username=m.username, password=m.password,
                        client_id=m.client_id, qos=m.qos, timeout_s=m.timeout_s, name=m.name)
        routes.append(Route(sink, AlertFilter(frozenset(m.cameras), frozenset(m.labels), m.min_severity)))
    if not routes:
        log.warning("no alert sinks configured (alerts.webhooks and alerts.mqtt are empty): alerts are only logged")
    return routes


def retry_policy(a) -> RetryPolicy:
    return RetryPolicy(backoff_initial_s=a.backoff_initial_s, backoff_max_s=a.backoff_max_s,
                       give_up_after_s=a.give_up_after_s, max_in_flight=a.max_in_flight,
                       breaker_failures=a.breaker_failures, breaker_open_initial_s=a.breaker_open_initial_s,
                       breaker_open_max_s=a.breaker_open_max_s)
