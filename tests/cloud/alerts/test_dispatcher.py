"""Delivery through a real HTTP receiver: signatures, retries, order, dead letters."""
import asyncio
import json

from cloud.alerts.alert import Alert
from cloud.alerts.dispatcher import Dispatcher
from cloud.alerts.sinks.webhook import WebhookSink
from vigil_tools.webhook_echo import WebhookReceiver

SECRET = "test-secret-123"


def _alert(stage="detected", aid="a1"):
    return Alert(alert_id=aid, stage=stage, edge_id="e", camera_id="c", event_id="ev", event_onset=1.0,
                 labels={"person": 2}, detections=[], severity=0.5)


def test_500_then_200_is_delivered_after_retry_in_order():
    rx = WebhookReceiver(SECRET, fail_first=2, quiet=True).start()
    try:
        async def go():
            d = Dispatcher([WebhookSink(rx.url, SECRET)], backoff_initial_s=0.05, backoff_max_s=0.1)
            d.submit(_alert("detected"))
            d.submit(_alert("described"))
            assert await d.drain(10)
            await d.close()
            return d.stats
        stats = asyncio.run(go())
    finally:
        rx.stop()
    assert rx.requests >= 4                      # two 500s, then both stages
    assert [r.body["stage"] for r in rx.received] == ["detected", "described"]
    assert all(r.signature_ok for r in rx.received)
    assert stats["retries"] >= 2 and stats["delivered_described"] == 1


def test_dead_receiver_goes_to_dead_letter_file(tmp_path):
    dl = tmp_path / "dead.jsonl"

    async def go():
        # Port 9 on loopback: nothing listens, connection refused.
        d = Dispatcher([WebhookSink("http://127.0.0.1:9/alerts", SECRET, timeout_s=1)], max_attempts=2,
                       backoff_initial_s=0.01, backoff_max_s=0.02, dead_letter_path=dl)
        d.submit(_alert())
        assert await d.drain(10)
        return d.stats
    stats = asyncio.run(go())
    assert stats["dead_lettered"] == 1
    line = json.loads(dl.read_text().splitlines()[0])
    assert line["alert"]["alert_id"] == "a1" and "ConnectError" in line["reason"]


def test_wrong_secret_is_rejected_by_receiver_and_not_retried():
    rx = WebhookReceiver("receiver-secret", quiet=True).start()
    try:
        async def go():
            d = Dispatcher([WebhookSink(rx.url, "another-secret")], backoff_initial_s=0.01)
            d.submit(_alert())
            await d.drain(5)
            return d.stats
        stats = asyncio.run(go())
    finally:
        rx.stop()
    assert rx.received == [] and stats["dead_lettered"] == 1 and rx.requests == 1
