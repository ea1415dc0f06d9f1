"""Alert sinks: where alerts go (webhook now; MQTT and others behind the same interface)."""
from cloud.alerts.sinks.base import AlertSink, DeliveryError

__all__ = ["AlertSink", "DeliveryError"]
