"""Compose's settings (config/*.yaml + each service's environment) run end to end with the default model.

Only what cannot exist outside containers changes: addresses become loopback ports, the
spool a temporary folder, the webhook points at a receiver started here, and the demo flag is set as a local try-out
would set it (VIGIL_DEMO=true). Every description must come back `ok`.
"""
import asyncio

import pytest

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from vigil_tools.webhook_echo import WebhookReceiver

pytestmark = pytest.mark.slow
DEMO = {"VIGIL_DEMO": "true"}


def test_compose_settings_with_the_default_model_describe_every_event(compose, caplog, tmp_path):
    cloud_env = compose.service_env("cloud", DEMO)
    edge_env = compose.service_env("edge", DEMO)
    secret = compose.expand("${VIGIL_WEBHOOK_SECRET:-change-this-secret}")
    rx = WebhookReceiver(secret, quiet=True).start()
    cloud_cfg = load_cloud_config(compose.service_config_file("cloud"), environ=cloud_env, overrides={
        "server": {"host": "127.0.0.1", "port": 0}, "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None},
        "alerts": {"webhooks": [{"url": rx.url, "secret": secret}], "outbox_path": None}})
    assert cloud_cfg.demo and cloud_cfg.engine.model is None       # the default model
    assert cloud_cfg.engine.pruner.method == "id_selection"        # the shipped pruning setting

    async def run():
        service = CloudService(cloud_cfg)
        port = await service.start()
        try:
            edge_cfg = load_edge_config(compose.service_config_file("edge"), environ=edge_env, overrides={
                "cloud": {"target": f"127.0.0.1:{port}", "results_grace_s": 120},
                "cameras": [{"id": "cam-1", "name": "camera", "url": "sample:bikes.mp4", "fps": 5}],
                "transmit": {"dat": {"spool_dir": str(tmp_path / "spool")}},   # the container's volume path
                "health_port": 0})
            summary = await EdgeAgent(edge_cfg).run()
            assert await service.drain(timeout_s=150)
        finally:
            await service.stop()
        return summary, service

    try:
        with caplog.at_level("WARNING"):
            summary, service = asyncio.run(run())
    finally:
        rx.stop()
    described = [a for stages in rx.stages().values() for a in stages if a["stage"] == "described"]
    assert described, "no description arrived"
    assert [a["description_status"] for a in described] == ["ok"] * len(described)
    assert service.service.stats["describe_errors"] == 0
    # The importance layer the config asks for does not exist in the 2-layer default model: adapted once, logged.
    assert any("engine.pruner.importance_layer=2 adapted to 1" in r.getMessage() for r in caplog.records)
