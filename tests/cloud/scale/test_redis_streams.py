"""The job stream, the alert ledger and the gateway's admission against a real redis-server."""
import asyncio
import json
import time

import pytest
import redis
from redis import asyncio as aioredis

from cloud.alerts.alert import Alert
from cloud.config import CloudConfig
from cloud.scale.gateway import GatewayIngest
from cloud.scale.jobs import GROUP, JobStream
from cloud.scale.ledger import AlertLedger
from tests.helpers.redis_server import needs_redis, redis_server  # noqa: F401 (fixture)
from vigil.v1 import vigil_pb2 as pb

pytestmark = needs_redis
TTL_S = 60.0


def _pkt(seq: int, run: str = "r1", event: str = "e1", prio=pb.ALERT_METADATA) -> pb.FramePacket:
    return pb.FramePacket(camera_id="cam", sequence=seq, run_id=run, event_id=event, priority=prio)


def _run(coro):
    return asyncio.run(coro)


async def _one_job_read_by_w1(url: str):
    """(client, stream "t", what worker w1 read) after one packet was published to a fresh group."""
    r = aioredis.from_url(url)
    jobs = JobStream(r, "t")
    await jobs.ensure_group()
    await jobs.publish("edge", _pkt(1), TTL_S)
    return r, jobs, await jobs.read("w1", 10, 100)


def test_publish_deduplicates_across_gateways_and_counts_the_backlog(redis_server):
    async def go():
        a, b = aioredis.from_url(redis_server.url), aioredis.from_url(redis_server.url)
        ga, gb = JobStream(a, "t"), JobStream(b, "t")        # two gateways, one Redis
        first, backlog = await ga.publish("edge", _pkt(1), TTL_S)
        again, _ = await gb.publish("edge", _pkt(1), TTL_S)      # the edge's replay lands on the other gateway
        restarted, backlog2 = await gb.publish("edge", _pkt(1, run="r2"), TTL_S)   # a restarted edge's packet 1
        await a.aclose(), await b.aclose()
        return first, backlog, again, restarted, backlog2
    first, backlog, again, restarted, backlog2 = _run(go())
    assert first and backlog == 1
    assert again is None
    assert restarted and backlog2 == 2


def test_an_unfinished_job_is_claimed_by_another_worker_and_finishing_empties_the_stream(redis_server):
    async def go():
        r, jobs, got = await _one_job_read_by_w1(redis_server.url)   # w1 reads it, then "dies"
        nothing = await jobs.claim("w2", min_idle_ms=60_000, count=10)   # not idle long enough yet
        await asyncio.sleep(0.05)
        claimed = await jobs.claim("w2", min_idle_ms=10, count=10)
        pending = await jobs.pending(0)
        await jobs.finish(claimed[0].entry_id)
        left, still_pending = await jobs.backlog(), await r.xpending(jobs.key, GROUP)
        await r.aclose()
        return got, nothing, claimed, pending, left, still_pending
    got, nothing, claimed, pending, left, still_pending = _run(go())
    assert len(got) == 1 and got[0].packet.sequence == 1 and got[0].edge_id == "edge"
    assert nothing == []
    assert [j.entry_id for j in claimed] == [got[0].entry_id]
    assert pending[0].consumer == "w2" and pending[0].deliveries == 2
    assert left == 0 and still_pending["pending"] == 0


def test_heartbeat_keeps_a_live_workers_job_from_being_claimed(redis_server):
    async def go():
        r, jobs, [job] = await _one_job_read_by_w1(redis_server.url)
        await asyncio.sleep(0.3)
        await jobs.beat("w1", [job.entry_id])
        claimed = await jobs.claim("w2", min_idle_ms=200, count=10)
        await r.aclose()
        return claimed
    assert _run(go()) == []


def test_poison_jobs_move_to_the_dead_stream(redis_server):
    async def go():
        r, jobs, [job] = await _one_job_read_by_w1(redis_server.url)
        n = await jobs.bury("w2", [job.entry_id])
        dead = await r.xrange(jobs.dead_key)
        backlog = await jobs.backlog()
        await r.aclose()
        return n, dead, backlog
    n, dead, backlog = _run(go())
    assert n == 1 and len(dead) == 1 and backlog == 0
    pkt = pb.FramePacket()
    pkt.ParseFromString(dead[0][1][b"pkt"])
    assert pkt.sequence == 1


def _alert(stage: str, status: str = "pending", t: float | None = None) -> Alert:
    return Alert(alert_id="a1", stage=stage, edge_id="edge", camera_id="cam", event_id="e1", event_onset=0.0,
                 labels={"person": 1}, detections=[], severity=0.5, description_status=status,
                 emitted_at=t if t is not None else time.time())


def test_ledger_commits_each_stage_once_in_order_and_tracks_open_alerts(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    ledger = AlertLedger(client, "t", retain_s=TTL_S, describe_deadline_s=5.0)
    t0 = time.time() - 10          # detected 10 s ago: past its 5 s deadline
    assert ledger.commit(_alert("detected", t=t0))
    assert not ledger.commit(_alert("detected", t=t0))            # a second worker's re-processing
    assert ledger.latest_stage("a1").stage == "detected"
    assert ledger.overdue(time.time(), 10) == ["a1"]
    assert ledger.commit(_alert("described", "timeout"))
    assert not ledger.commit(_alert("described", "ok"))          # a late description after the timeout
    assert ledger.latest_stage("a1").description_status == "timeout"
    assert ledger.overdue(time.time(), 10) == []
    stages = [json.loads(f[b"alert"])["stage"] for _, f in client.xrange("t:alerts")]
    assert stages == ["detected", "described"]
    client.close()


def test_gateway_refuses_when_the_backlog_is_full_and_acks_duplicates(redis_server):
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": redis_server.url, "max_backlog": 2, "prefix": "g"})

    async def go():
        r = aioredis.from_url(redis_server.url)
        gw = GatewayIngest(cfg, JobStream(r, "g"))
        out: asyncio.Queue = asyncio.Queue()
        for seq in (1, 1, 2, 3):
            await gw.admit("edge", _pkt(seq, event=f"e{seq}"), time.time(), 100, out)
        await gw.admit("edge", pb.FramePacket(camera_id="cam", sequence=9, priority=pb.CONTEXT), time.time(), 100, out)
        msgs = [out.get_nowait() for _ in range(out.qsize())]
        gw.close()
        await r.aclose()
        return gw.stats, msgs
    stats, msgs = _run(go())
    kinds = [(m.WhichOneof("body"), m.ack.duplicate if m.HasField("ack") else m.error.code) for m in msgs]
    assert kinds == [("ack", False), ("ack", True), ("ack", False), ("error", "OVERLOADED"), ("ack", False)]
    assert stats["queued"] == 2 and stats["overloaded"] == 1 and stats["duplicates"] == 1


def test_a_worker_finishes_alerts_another_worker_left_open(redis_server):
    """A worker died after `detected`: when the deadline passes, a survivor sends `described` (timeout)."""
    from cloud.scale.worker import Worker
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": redis_server.url, "prefix": "w"},
                      engine={"model": "stub:0"}, alerts={"describe_deadline_s": 5})
    client = redis.Redis.from_url(redis_server.url)
    AlertLedger(client, "w", retain_s=TTL_S, describe_deadline_s=5).commit(_alert("detected", t=time.time() - 6))

    async def go():
        worker = Worker(cfg)
        await worker.start()
        for _ in range(40):
            await asyncio.sleep(0.05)
            latest = worker.ledger.latest_stage("a1")
            if latest.stage == "described":
                break
        await worker.stop(1.0)
        return latest
    latest = _run(go())
    assert latest.stage == "described" and latest.description_status == "timeout"
    assert client.zcard("w:open") == 0
    client.close()


def test_bury_leaves_an_entry_another_worker_just_claimed(redis_server):
    async def go():
        r, jobs, [job] = await _one_job_read_by_w1(redis_server.url)
        await jobs.beat("w2", [job.entry_id])          # w2 took it over a moment ago
        n = await jobs.bury("w3", [job.entry_id], min_idle_ms=60_000)
        backlog = await jobs.backlog()
        await r.aclose()
        return n, backlog
    assert _run(go()) == (0, 1)



def test_a_full_redis_makes_the_gateway_refuse_not_drop(redis_server):
    """maxmemory reached (no eviction): the XADD fails, the edge gets INTERNAL and no Ack (it keeps the packet)."""
    import cv2
    import numpy as np
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    jpeg = cv2.imencode(".jpg", noise)[1].tobytes()          # ~100 kB that does not compress
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": redis_server.url, "prefix": "m"})
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + 5 * len(jpeg))

    async def go():
        r = aioredis.from_url(redis_server.url)
        gw = GatewayIngest(cfg, JobStream(r, "m"))
        out: asyncio.Queue = asyncio.Queue()
        for seq in range(1, 21):
            pkt = _pkt(seq, event=f"e{seq}", prio=pb.SEMANTIC_FRAME)
            pkt.jpeg = jpeg
            await gw.admit("edge", pkt, time.time(), len(jpeg), out)
        msgs = [out.get_nowait() for _ in range(out.qsize())]
        queued = await gw.jobs.backlog()
        gw.close()
        await r.aclose()
        return msgs, queued, gw.stats
    msgs, queued, stats = _run(go())
    admin.close()
    acks = [m.ack.sequence for m in msgs if m.HasField("ack")]
    refused = [m.error.sequence for m in msgs if m.HasField("error")]
    assert all(m.error.code == "INTERNAL" for m in msgs if m.HasField("error"))
    assert acks and refused and sorted(acks + refused) == list(range(1, 21))
    assert queued == len(acks) == stats["queued"]              # every ack is a queued job; the rest were refused
