"""Real clip -> edge gate -> gRPC on loopback -> cloud engine -> real HTTP webhook receiver."""
import asyncio

import pytest

from cloud.answer.schema import EventDescription
from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.client import AuthenticationError
from edge.config import load_edge_config
from edge.sources.base import SourceError
from vigil_tools.webhook_echo import WebhookReceiver

SECRET = "integration-secret"

pytestmark = pytest.mark.slow


def _cloud_cfg(url, deadline=120.0):
    return load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0},
        "alerts": {"webhooks": [{"url": url, "secret": SECRET}], "describe_deadline_s": deadline,
                   "outbox_path": None},
        "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}})


def _edge_cfg(port, token="vigil-demo-token", url="sample:bikes.mp4"):
    return load_edge_config(environ={}, overrides={
        "cameras": [{"id": "cam-1", "name": "bikes", "url": url, "fps": 5}],
        "cloud": {"target": f"127.0.0.1:{port}", "token": token, "results_grace_s": 120}})


async def _run_system(receiver):
    service = CloudService(_cloud_cfg(receiver.url))
    port = await service.start()
    try:
        summary = await EdgeAgent(_edge_cfg(port)).run()
        assert await service.drain(timeout_s=150)
    finally:
        await service.stop()
    return summary, service


def test_clip_to_signed_two_stage_alerts():
    rx = WebhookReceiver(SECRET, quiet=True).start()
    try:
        summary, service = asyncio.run(_run_system(rx))
    finally:
        rx.stop()
    assert summary.frames_read > 20 and 0 < summary.frames_gated < summary.frames_read
    assert summary.packets_sent > 0 and summary.bytes_sent > 0
    alerts = rx.stages()
    assert alerts, "no alert arrived"
    assert all(r.signature_ok for r in rx.received)
    for alert_id, stages in alerts.items():
        assert [s["stage"] for s in stages] == ["detected", "described"], alert_id
        assert {s["alert_id"] for s in stages} == {alert_id}
        described = stages[1]
        assert described["description_status"] == "ok", described
        EventDescription.model_validate(described["description"])
        assert stages[0]["labels"].get("person", 0) >= 1
    assert summary.descriptions == len(alerts)


def test_missing_video_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match="nope.mp4"):
        EdgeAgent(_edge_cfg(1, url=str(missing)))


def test_wrong_token_stops_the_edge_with_a_clear_error():
    async def go():
        service = CloudService(_cloud_cfg("http://127.0.0.1:9/unused"), engine=_NoEngine(), sinks=[])
        port = await service.start()
        try:
            with pytest.raises(AuthenticationError, match="rejected edge 'demo-edge'"):
                await EdgeAgent(_edge_cfg(port, token="wrong-token")).run()
        finally:
            await service.stop()
    asyncio.run(go())


class _NoEngine:
    model_name = "none"
    sees_images = True

    async def describe(self, req):  # pragma: no cover - never reached: auth fails first
        raise AssertionError("unauthenticated edge reached the engine")

    def backpressure(self):
        return 0.0
