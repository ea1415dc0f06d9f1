"""Two workers get frames of one event to describe (its first frame and its end frame): the model runs
once, one `described` stage is committed and the edge gets one Result; the other worker skips the model
and still finishes its job. Against a real redis-server."""
import asyncio
import time

import cv2
import numpy as np
import redis

from cloud.alerts.alert import Alert
from cloud.alerts.manager import alert_id_for
from cloud.config import CloudConfig
from cloud.scale.jobs import Job
from cloud.scale.ledger import AlertLedger
from cloud.scale.worker import Worker
from tests.cloud.answer.test_describe import Engine
from tests.helpers.redis_server import needs_redis, redis_server  # noqa: F401 (fixture)
from vigil.v1 import vigil_pb2 as pb

pytestmark = needs_redis


class SeeingEngine(Engine):
    model_name, sees_images = "stub", True
AID = alert_id_for("edge", "cam", "e1")
JPEG = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()


def _alert(stage: str) -> Alert:
    return Alert(alert_id="a1", stage=stage, edge_id="edge", camera_id="cam", event_id="e1", event_onset=0.0,
                 labels={}, detections=[], severity=0.5, emitted_at=time.time())


def test_the_describe_lease_is_held_by_one_worker_until_described_or_lapsed(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    ledger = AlertLedger(client, "l", retain_s=60, describe_deadline_s=5)
    assert ledger.commit(_alert("detected"))
    assert ledger.claim_description("a1", "w1", lease_s=0.3)
    assert ledger.claim_description("a1", "w1", lease_s=0.3)        # its own lease: a job it handles again
    assert not ledger.claim_description("a1", "w2", lease_s=0.3)     # another worker describes it
    ledger.renew_descriptions(["a1"], "w2", lease_s=60)              # not w2's: left as it is
    time.sleep(0.2)
    ledger.renew_descriptions(["a1"], "w1", lease_s=0.3)
    time.sleep(0.2)
    assert not ledger.claim_description("a1", "w2", lease_s=0.3)     # renewed: still w1's
    time.sleep(0.25)
    assert ledger.claim_description("a1", "w2", lease_s=0.3)         # w1 died: its lease lapsed
    assert ledger.commit(Alert(**{**_alert("described").to_dict(), "description_status": "ok"}))
    assert not ledger.claim_description("a1", "w3", lease_s=0.3)     # described: nobody describes it again
    client.close()


def test_a_second_worker_skips_the_model_for_an_event_another_worker_describes(redis_server):
    cfg = CloudConfig(scale={"mode": "redis", "redis_url": redis_server.url, "prefix": "d"},
                      alerts={"describe_deadline_s": 10})
    engine = SeeingEngine(delay_s=0.3)

    def job(seq: int, stage: str) -> Job:
        pkt = pb.FramePacket(camera_id="cam", sequence=seq, run_id="r", event_id="e1", capture_time=time.time(),
                             priority=pb.SEMANTIC_FRAME, jpeg=JPEG)
        pkt.hints.event_stage = stage
        return Job(entry_id=f"0-{seq}", edge_id="edge", packet=pkt, accepted_at=time.time())

    async def go():
        w1, w2 = Worker(cfg, engine=engine), Worker(cfg, engine=engine)
        w1.consumer, w2.consumer = "w1", "w2"
        replies = []

        async def reply(edge_id, pkt, aid, status, text):
            replies.append((pkt.sequence, status))
        w1._reply = w2._reply = reply
        first = asyncio.create_task(w1._process(job(1, "new")))
        await asyncio.sleep(0.1)                      # w1 is describing the first frame
        await w2._process(job(5, "end"))              # the end frame reaches the other worker
        await first
        stats = (w1.stats, w2.stats, w2.alerts.is_open(AID))
        latest = w1.ledger.latest_stage(AID)
        for w in (w1, w2):
            await w.stop(1.0)
        return replies, stats, latest

    replies, (s1, s2, w2_open), latest = asyncio.run(go())
    assert len(engine.requests) == 1                       # the model ran once
    assert replies == [(1, "ok")]                          # one Result, from the describer
    assert s2["describe_skipped"] == 1 and s1["committed_described"] == 1 and s2["committed_described"] == 0
    assert not w2_open                                      # the skipper neither describes nor times it out
    assert latest.stage == "described" and latest.description_status == "ok"
