"""Every scale-out role (gateway, worker, delivery) runs its loops under the loop guard, as the single
process does: a step whose dependency raises every time is logged once (the same error once a minute)
and the loop keeps running. The delivery role's SQLite files are under the storage-fault state: short
of space, it leaves the stages in Redis and takes them when space returns. Against a real redis-server."""
import asyncio
import logging

import pytest

from cloud.config import CloudConfig
from cloud.scale import delivery as delivery_mod
from cloud.scale.delivery import Delivery
from cloud.scale.gateway import Gateway
from cloud.scale.worker import Worker
from tests.helpers.redis_server import needs_redis, redis_server  # noqa: F401 (fixture)

pytestmark = needs_redis


def _cfg(url: str, tmp_path, prefix: str) -> CloudConfig:
    return CloudConfig(scale={"mode": "redis", "redis_url": url, "prefix": prefix},
                       server={"host": "127.0.0.1", "port": 0}, api={"host": "127.0.0.1", "port": 0},
                       engine={"model": "stub:0"},
                       auth={"reload_interval_s": 0.01},
                       store={"path": str(tmp_path / "events.db")}, alerts={"outbox_path": str(tmp_path / "outbox.db")})


def _gateway(cfg):
    role = Gateway(cfg)
    return role, "token reload", role.tokens, "reload_if_changed"


def _worker(cfg):
    role = Worker(cfg)
    return role, "describe deadlines", role.alerts, "expire"


def _delivery(cfg):
    role = Delivery(cfg, sinks=[])
    return role, "outbox housekeeping", role.outbox, "forget_delivered"


@pytest.mark.parametrize("make", [_gateway, _worker, _delivery], ids=["gateway", "worker", "delivery"])
def test_a_raising_step_is_logged_once_and_the_roles_loop_goes_on(make, redis_server, tmp_path, caplog,
                                                                   monkeypatch):
    monkeypatch.setattr(delivery_mod, "HOUSEKEEPING_INTERVAL_S", 0.01)
    role, loop, owner, method = make(_cfg(redis_server.url, tmp_path, make.__name__))
    calls = []

    def broken(*_a, **_kw):
        calls.append(1)
        raise RuntimeError("dependency broke")
    setattr(owner, method, broken)

    async def go():
        await role.start()
        for _ in range(300):
            if len(calls) >= 5:
                break
            await asyncio.sleep(0.01)
        task = next(t for t in role.tasks if t.get_name() == loop)
        alive = not task.done()
        await role.stop(1.0)
        return alive

    with caplog.at_level(logging.ERROR):
        alive = asyncio.run(go())
    failures = [r for r in caplog.records if f"{loop} loop: one iteration failed" in r.getMessage()]
    assert alive and len(calls) >= 5
    assert len(failures) == 1 and "dependency broke" in failures[0].getMessage()


def test_delivery_leaves_stages_in_redis_while_its_disk_is_short_and_takes_them_after(redis_server, tmp_path):
    import redis

    from cloud.alerts.alert import Alert
    from cloud.scale.ledger import AlertLedger
    cfg = _cfg(redis_server.url, tmp_path, "full")
    client = redis.Redis.from_url(redis_server.url)
    AlertLedger(client, "full", retain_s=60, describe_deadline_s=5).commit(Alert(
        alert_id="a1", stage="detected", edge_id="e", camera_id="c", event_id="ev", event_onset=0.0, labels={},
        detections=[], severity=0.5))
    role = Delivery(cfg, sinks=[])
    free = {"bytes": 0}
    role.storage._free = lambda _directory: free["bytes"]   # a full disk, as the storage state reads it

    async def go():
        await role.redis.xgroup_create(role.key, delivery_mod.GROUP, id="0", mkstream=True)
        await role._move_step()
        short = (role.storage.refusing, role.outbox.latest_stage("a1"), client.xlen("full:alerts"))
        free["bytes"] = 10 * cfg.alerts.min_free_bytes
        role.storage.check()
        for _ in range(3):   # its own pending list (empty), then the new entries
            await role._move_step()
        back = (role.storage.refusing, role.outbox.latest_stage("a1"), client.xlen("full:alerts"))
        await role.redis.aclose()
        return short, back
    try:
        short, back = asyncio.run(go())
    finally:
        role.outbox.close()
        role.store.close()
        client.close()
    assert short == (True, None, 1)                        # refused: the stage waits in Redis
    assert back[0] is False and back[1].stage == "detected" and back[2] == 0
