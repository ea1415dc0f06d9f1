"""The Redescriber over a real QueuedEngine: second descriptions coalesce (the newest frame wins), and one
the full queue sheds is only counted, never an error nor a timeout of its alert."""
import asyncio
from collections import Counter

import numpy as np

from cloud.answer.describe_queue import is_second
from cloud.answer.describe_pump import QueuedEngine
from cloud.answer.redescribe import Redescriber
from cloud.answer.redescribe_policy import RedescribeRule
from cloud.answer.request import DescribeRequest
from tests.helpers.cloud_fakes import FakeEngine
from vigil.v1 import vigil_pb2 as pb

IMAGE = np.zeros((48, 64, 3), np.uint8)


class Alerts:
    """Every frame is worth a second description; records what would be committed."""
    describe_deadline_s = 10.0

    def __init__(self):
        self.committed = []

    def redescribe_reason(self, aid, rule, *, stage, escalation, sequence, view):
        return "end" if stage == "end" else "escalation"

    def on_redescription(self, aid, *, reason, sequence, description, view=None):
        self.committed.append((aid, reason, sequence))
        return True

    def is_open(self, aid):
        return False


def _pkt(seq, stage="update"):
    return pb.FramePacket(camera_id="c", event_id="e", sequence=seq, source_width=64, source_height=48,
                          detections=[pb.Detection(box=pb.Box(x1=1, y1=1, x2=30, y2=30), label="person", score=0.9)],
                          hints=pb.SemanticHints(event_stage=stage, escalation="zone" if stage == "update" else "",
                                                 severity=0.5, counts={"person": 1}))


def _first(key):
    return DescribeRequest(request_id=key, camera_id="c", event_id=key, images=[IMAGE], severity=0.1, deadline=None)


def test_second_descriptions_of_one_event_coalesce_and_the_newest_frame_is_the_one_committed():
    async def go():
        engine = QueuedEngine(FakeEngine(delay=0.2), capacity=4, concurrency=1)
        alerts, stats = Alerts(), Counter()
        r = Redescriber(alerts, engine, stats, RedescribeRule())
        busy = asyncio.create_task(engine.describe(_first("busy")))   # occupies the one slot
        await asyncio.sleep(0.05)
        assert r.offer("a", _pkt(5), IMAGE) == "escalation"
        await asyncio.sleep(0)
        assert r.offer("a", _pkt(9, "end"), IMAGE) == "end"             # replaces the queued frame
        await busy
        await asyncio.gather(*r.tasks())
        engine.close()
        return engine, alerts, stats

    engine, alerts, stats = asyncio.run(go())
    assert alerts.committed == [("a", "end", 9)] and stats["redescribe_coalesced"] == 1
    assert [(q.request_id, is_second(q.request_id)) for q in engine.engine.requests] == [("busy", False), ("a/again", True)]


def test_a_shed_second_description_is_counted_and_dropped():
    async def go():
        engine = QueuedEngine(FakeEngine(delay=0.2), capacity=1, concurrency=1)
        alerts, stats = Alerts(), Counter()
        r = Redescriber(alerts, engine, stats, RedescribeRule())
        running = asyncio.create_task(engine.describe(_first("running")))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(engine.describe(_first("waiting")))   # fills the queue
        await asyncio.sleep(0)
        r.offer("a", _pkt(5), IMAGE)
        await asyncio.gather(*r.tasks())
        await asyncio.gather(running, waiting)   # both first descriptions are served
        engine.close()
        return engine, alerts, stats

    engine, alerts, stats = asyncio.run(go())
    assert alerts.committed == [] and stats["redescribe_overloaded"] == 1
    assert engine.queue_stats()["shed"] == 0 and engine.queue_stats()["second_shed"] == 1
