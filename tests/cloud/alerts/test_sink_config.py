"""Sinks from configuration: several webhooks and MQTT, each with its filters, secrets masked in logs."""
import asyncio

from cloud.config import load_cloud_config
from cloud.engine.stub import FixedLatencyEngine
from cloud.service import CloudService
from vigil.redact import redact


def test_configured_endpoints_become_filtered_routes():
    cfg = load_cloud_config(environ={}, overrides={"alerts": {"outbox_path": None, "webhooks": [
        {"url": "http://127.0.0.1:9/door?token=abc123", "secret": "door-secret-1", "cameras": ["door"]},
        {"url": "http://127.0.0.1:9/severe", "secret": "severe-secret", "min_severity": 0.8, "name": "severe"}],
        "mqtt": [{"host": "127.0.0.1", "port": 9, "password": "mqtt-pa55word", "labels": ["person"]}]}})

    async def go():
        svc = CloudService(cfg, engine=FixedLatencyEngine())
        names = svc.dispatcher.sink_names
        filters = [r.filter for r in svc.dispatcher.routes]
        await svc.dispatcher.close()
        svc.outbox.close()
        return names, filters
    names, filters = asyncio.run(go())
    assert names == ["webhook:http://127.0.0.1:9/door?token=***", "severe", "mqtt:127.0.0.1:9/vigil"]
    assert filters[0].cameras == {"door"} and filters[1].min_severity == 0.8 and filters[2].labels == {"person"}
    assert "mqtt-pa55word" not in redact("connect with mqtt-pa55word") and "door-secret-1" not in redact("door-secret-1")
