"""grpc.health.v1 on the cloud: NOT_SERVING while the model loads, SERVING after, and the probe's exit code."""
import asyncio

from cloud.config import load_cloud_config
from cloud.health import INGEST_SERVICE, main as probe_main, probe
from cloud.service import CloudService


class _SlowEngine:
    model_name = "slow"
    sees_images = True

    def __init__(self):
        self.loaded = asyncio.Event()

    async def ready(self):
        await self.loaded.wait()

    def backpressure(self):
        return 0.0


def test_health_follows_the_model():
    async def go():
        cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0}, "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None},
                                                       "alerts": {"outbox_path": None}})
        engine = _SlowEngine()
        service = CloudService(cfg, engine=engine, sinks=[])
        port = await service.start()
        target = f"127.0.0.1:{port}"
        try:
            before = await probe(target)
            engine.loaded.set()
            await service.model_loaded
            after = [await probe(target), await probe(target, INGEST_SERVICE)]
            rc = await asyncio.to_thread(probe_main, [target])
        finally:
            await service.stop()
        return before, after, rc
    before, after, rc = asyncio.run(go())
    assert before == "NOT_SERVING"
    assert after == ["SERVING", "SERVING"] and rc == 0


def test_probe_fails_when_nothing_listens():
    assert probe_main(["127.0.0.1:9", "--timeout", "1"]) == 1
