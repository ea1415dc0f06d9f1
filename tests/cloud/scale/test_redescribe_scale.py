"""A second description across scale-out workers, against a real redis-server: worker A describes an
event's first frame; worker B (which never saw it, or raised the alert from its metadata packet and holds
it open) gets its end with a materially better view and makes exactly one `redescribed` stage, judged
against the frame A described (committed in the ledger); the same end packet handled by A while B computes
it, or again after B committed it, computes and commits nothing more. An end that adds nothing makes none."""
import asyncio
import json
import time

import cv2
import numpy as np
import redis

from cloud.alerts.alert import Alert
from cloud.alerts.manager import alert_id_for
from cloud.answer.redescribe_policy import FrameView
from cloud.config import CloudConfig
from cloud.scale.ledger import AlertLedger
from cloud.scale.jobs import Job
from cloud.scale.worker import Worker
from tests.cloud.answer.test_describe import Engine
from tests.helpers.redis_server import needs_redis, redis_server  # noqa: F401 (fixture)
from vigil.v1 import vigil_pb2 as pb

pytestmark = needs_redis

AID = alert_id_for("edge", "cam", "e1")
JPEG = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()
SMALL_BOX, BIG_BOX = (10, 10, 20, 30), (5, 5, 60, 45)


class SeeingEngine(Engine):
    model_name, sees_images = "stub", True


def _job(seq: int, stage: str, box) -> Job:
    x1, y1, x2, y2 = box
    pkt = pb.FramePacket(camera_id="cam", sequence=seq, run_id="r", event_id="e1", capture_time=time.time(),
                         event_onset=time.time(), priority=pb.SEMANTIC_FRAME, jpeg=JPEG, width=64, height=48,
                         source_width=64, source_height=48,
                         detections=[pb.Detection(box=pb.Box(x1=x1, y1=y1, x2=x2, y2=y2), label="person",
                                                  score=0.9, track_id=1)])
    pkt.hints.counts["person"] = 1
    pkt.hints.event_stage = stage
    return Job(entry_id=f"0-{seq}", edge_id="edge", packet=pkt, accepted_at=time.time())


def _escalation(seq: int) -> Job:
    job = _job(seq, "update", SMALL_BOX)
    job.packet.hints.escalation = "zone"
    return job


def _two_workers(cfg: CloudConfig, engine) -> tuple[Worker, Worker]:
    """Workers "a" and "b" on one Redis, sharing one engine; their Results to the edge go nowhere."""
    a, b = Worker(cfg, engine=engine), Worker(cfg, engine=engine)
    a.consumer, b.consumer = "a", "b"

    async def reply(edge_id, pkt, aid, status, text):
        pass
    a._reply = b._reply = reply
    return a, b


def _run(url: str, prefix: str, end_box):
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": url, "prefix": prefix},
                      alerts={"describe_deadline_s": 10})
    engine = SeeingEngine(delay_s=0.05)

    async def go():
        a, b = _two_workers(cfg, engine)
        meta = _job(1, "new", SMALL_BOX)
        meta.packet.priority = pb.ALERT_METADATA
        meta.packet.ClearField("jpeg")
        await b._process(meta)                         # B raises the alert (and holds it open, not describing)
        await a._process(_job(2, "new", SMALL_BOX))   # A describes the first frame
        end = _job(9, "end", end_box)
        await b._process(end)                          # B gets the end's best snapshot
        await a._process(end)                          # ... and so does A (a job claimed twice): B computes it
        await asyncio.gather(*a.redescriber.tasks(), *b.redescriber.tasks())
        await b._process(end)                          # redelivered after the commit: nothing more
        await a._process(end)
        await asyncio.gather(*a.redescriber.tasks(), *b.redescriber.tasks())
        stats = (a.stats, b.stats)
        for w in (a, b):
            await w.stop(1.0)
        return stats

    stats = asyncio.run(go())
    client = redis.Redis.from_url(url)
    stages = [Alert(**json.loads(f[b"alert"])).stage for _, f in client.xrange(f"{prefix}:alerts")]
    client.close()
    return engine, stats, stages


def test_an_end_with_a_better_view_on_another_worker_is_described_again_once(redis_server):
    engine, (sa, sb), stages = _run(redis_server.url, "r1", BIG_BOX)
    assert [r.request_id for r in engine.requests] == [AID, AID + "/again"]   # the model ran twice, once each
    assert stages.count("described") == 1 and stages.count("redescribed") == 1
    assert stages.index("described") < stages.index("redescribed")
    assert sb["redescribed"] == 1 and sb["committed_redescribed"] == 1 and sa["committed_redescribed"] == 0
    assert sa["redescribe_skipped"] == 1                                      # A saw B's lease


def test_an_end_that_adds_nothing_is_not_described_again(redis_server):
    engine, (sa, sb), stages = _run(redis_server.url, "r2", SMALL_BOX)
    assert [r.request_id for r in engine.requests] == [AID]
    assert "redescribed" not in stages and stages.count("described") == 1
    assert sa["redescribed"] == sb["redescribed"] == 0


def test_the_ledger_keeps_the_described_view_and_leases_each_second_description_once(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    ledger = AlertLedger(client, "r3", retain_s=60, describe_deadline_s=5)
    base = dict(alert_id="a1", edge_id="edge", camera_id="cam", event_id="e1", event_onset=0.0, labels={},
                detections=[], severity=0.5, emitted_at=time.time())
    small, big = FrameView(labels=(("person", 1),), quality=0.2), FrameView(labels=(("person", 2),), quality=0.6)
    assert ledger.commit(Alert(stage="detected", **base), small) and ledger.view("a1") is None   # not described
    assert ledger.commit(Alert(stage="described", description_status="ok", **base), small)
    assert ledger.view("a1") == small
    assert ledger.claim_redescription("a1", 9, "w1", lease_s=5)
    assert not ledger.claim_redescription("a1", 9, "w2", lease_s=5)      # w1 computes it
    assert ledger.claim_redescription("a1", 10, "w2", lease_s=5)         # another packet: its own lease
    assert ledger.commit(Alert(stage="redescribed", sequence=9, description_status="ok", **base), big)
    assert ledger.view("a1") == big                                       # the next one is judged against it
    assert not ledger.claim_redescription("a1", 9, "w3", lease_s=5)      # committed: nobody computes it again
    assert not ledger.commit(Alert(stage="redescribed", sequence=9, description_status="ok", **base), small)
    assert ledger.view("a1") == big                                       # a repeat changes nothing
    client.close()


def _stages(url: str, prefix: str) -> list[Alert]:
    client = redis.Redis.from_url(url)
    got = [Alert(**json.loads(f[b"alert"])) for _, f in client.xrange(f"{prefix}:alerts")]
    client.close()
    return got


def test_an_escalation_behind_the_first_then_an_end_on_another_worker_are_described_again(redis_server):
    """A gets an escalation while it is still describing the event's first frame: kept, and described once
    that is done. B then gets the end (a better view than the escalation's frame, committed by A)."""
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": redis_server.url, "prefix": "r4"},
                      alerts={"describe_deadline_s": 10})
    engine = SeeingEngine(delay_s=0.2)

    async def go():
        a, b = _two_workers(cfg, engine)
        first = asyncio.create_task(a._process(_job(1, "new", SMALL_BOX)))
        await asyncio.sleep(0.05)
        escalation = _escalation(2)
        await a._process(escalation)                     # while A computes the first description: kept
        await first
        await asyncio.gather(*a.redescriber.tasks())
        await b._process(_job(3, "end", BIG_BOX))        # the end, on the other worker
        await asyncio.gather(*b.redescriber.tasks())
        for w in (a, b):
            await w.stop(1.0)

    asyncio.run(go())
    again = [(s.sequence, s.redescribe_reason) for s in _stages(redis_server.url, "r4") if s.stage == "redescribed"]
    assert again == [(2, "escalation"), (3, "end")]
    assert [r.request_id for r in engine.requests] == [AID, AID + "/again", AID + "/again"]


def test_an_escalation_on_another_worker_while_the_first_is_computed_is_described_after_it(redis_server):
    """B gets an escalation while A still computes the event's first description (A holds its lease): B keeps
    the frame and, once A's description is in the ledger, describes it again; nothing is dropped."""
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": redis_server.url, "prefix": "r5"},
                      alerts={"describe_deadline_s": 10})
    engine = SeeingEngine(delay_s=0.3)

    async def go():
        a, b = _two_workers(cfg, engine)
        first = asyncio.create_task(a._process(_job(1, "new", SMALL_BOX)))
        await asyncio.sleep(0.1)
        escalation = _escalation(2)
        await b._process(escalation)                     # A holds the describe lease: B keeps the frame
        assert b.redescriber.deferred() == [AID]
        await b._behind_others_step()                    # not described yet: still kept
        assert b.redescriber.deferred() == [AID]
        await first
        await b._behind_others_step()                    # A's description is committed: B judges its frame
        await asyncio.gather(*b.redescriber.tasks())
        stats = b.stats
        for w in (a, b):
            await w.stop(1.0)
        return stats

    sb = asyncio.run(go())
    again = [(s.sequence, s.redescribe_reason) for s in _stages(redis_server.url, "r5") if s.stage == "redescribed"]
    assert again == [(2, "escalation")]
    assert sb["redescribed"] == 1 and sb["redescribe_gave_up"] == 0
    assert [r.request_id for r in engine.requests] == [AID, AID + "/again"]


def test_a_kept_frame_is_given_up_when_no_first_description_comes(redis_server):
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": redis_server.url, "prefix": "r6"},
                      alerts={"describe_deadline_s": 10})

    async def go():
        a, b = _two_workers(cfg, SeeingEngine(delay_s=0.0))
        assert a.ledger.claim_description(AID, "a", 30)   # A took the lease, then died before describing
        escalation = _escalation(2)
        await b._process(escalation)
        assert b.redescriber.deferred() == [AID]
        await b._behind_others_step()
        b._behind_others[AID] = 0.0                       # its time is up
        await b._behind_others_step()
        stats, left = b.stats, b.redescriber.deferred()
        for w in (a, b):
            await w.stop(1.0)
        return stats, left

    stats, left = asyncio.run(go())
    assert left == [] and stats["redescribe_gave_up"] == 1 and stats["redescribed"] == 0
