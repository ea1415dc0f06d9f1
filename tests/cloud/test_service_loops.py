"""Each background loop of the cloud service (describe deadlines, outbox housekeeping, token reload, store
retention, storage check) outlives a failure of its dependency: the dependency raises once, the loop
logs it and calls it again. And a storage fault shows in /readyz, /healthz and the metrics."""
import asyncio
import sqlite3

import httpx

from cloud.config import load_cloud_config
from cloud.loops import run_forever
from cloud.service import CloudService
from tests.helpers.cloud_fakes import FakeEngine

# loop name -> (attribute path of the dependency it calls)
DEPENDENCIES = {"describe deadlines": ("alerts", "expire"), "outbox housekeeping": ("outbox", "forget_delivered"),
                "token reload": ("tokens", "reload_if_changed"), "store retention": ("store", "apply_retention"),
                "storage check": ("storage", "check")}


def _service(tmp_path):
    cfg = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0}, "api": {"host": "127.0.0.1", "port": 0},
        "store": {"path": str(tmp_path / "events.db")}, "alerts": {"outbox_path": str(tmp_path / "outbox.db")}})
    return CloudService(cfg, engine=FakeEngine(), sinks=[])


def test_every_loop_survives_its_dependency_failing_once(tmp_path):
    service = _service(tmp_path)
    assert {name for name, *_ in service.loops()} == set(DEPENDENCIES)

    async def go():
        alive = {}
        for name, step, _interval, _first in service.loops():
            owner, method = DEPENDENCIES[name]
            target = getattr(service, owner)
            real, calls = getattr(target, method), []

            def failing_once(*a, _real=real, _calls=calls, **kw):
                _calls.append(1)
                if len(_calls) == 1:
                    raise sqlite3.OperationalError("database or disk is full")
                return _real(*a, **kw)
            setattr(target, method, failing_once)
            task = asyncio.create_task(run_forever(name, step, 0.001))
            for _ in range(500):
                if len(calls) >= 3:
                    break
                await asyncio.sleep(0.002)
            alive[name] = (not task.done(), len(calls))
            task.cancel()
            setattr(target, method, real)
        return alive
    try:
        alive = asyncio.run(go())
    finally:
        service.outbox.close()
        service.store.close()
    assert all(ok and n >= 3 for ok, n in alive.values()), alive


def test_a_storage_fault_shows_in_readyz_healthz_and_metrics(tmp_path):
    service = _service(tmp_path)

    async def go():
        await service.start()
        service.model_loaded.cancel()
        base = f"http://127.0.0.1:{service.api.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            service.storage.failed("outbox", sqlite3.OperationalError("database or disk is full"))
            faulty = [(await http.get("/readyz")), (await http.get("/healthz")), (await http.get("/metrics")).text]
            service.storage.faults.clear()
            healthy = (await http.get("/healthz")).json()
        await service.stop()
        return faulty, healthy
    (ready, health, metrics), healthy = asyncio.run(go())
    assert ready.status_code == 503 and ready.json()["storage_faults"][0]["store"] == "outbox"
    assert str(tmp_path / "outbox.db") == health.json()["storage_faults"][0]["path"]
    assert health.json()["status"] == "storage_fault" and healthy["status"] == "ok"
    assert 'vigil_cloud_storage_fault{store="outbox"} 1.0' in metrics
