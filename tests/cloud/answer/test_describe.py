"""describe_event: one packet -> the alert's `detected` stage at once, then the description to await,
the same for the single process and the scale-out worker (no sockets, no model)."""
import asyncio
from collections import Counter

import numpy as np

from cloud.alerts.manager import AlertManager
from cloud.answer.describe import describe_event
from cloud.answer.request import DescribeResult
from cloud.answer.schema import EventDescription, ObjectCount
from vigil.v1 import vigil_pb2 as pb

IMAGE = np.zeros((48, 64, 3), np.uint8)


class Engine:
    def __init__(self, delay_s=0.0, error=None):
        self.delay_s, self.error, self.requests = delay_s, error, []

    async def describe(self, req):
        self.requests.append(req)
        await asyncio.sleep(self.delay_s)
        if self.error:
            raise self.error
        desc = EventDescription(summary="A car waits.", threat_level=0, objects=[ObjectCount(label="car", count=1)],
                                action="waiting")
        return DescribeResult(req.request_id, desc.model_dump_json(), desc, 10, 4, 5, 0, 1, 1)


def _packet(priority=pb.SEMANTIC_FRAME, event="e1"):
    pkt = pb.FramePacket(camera_id="cam", sequence=1, event_id=event, priority=priority, capture_time=5.0)
    pkt.hints.counts["car"] = 1
    pkt.hints.zone = "gate"
    d = pkt.detections.add(label="car", score=0.9)
    d.box.x1, d.box.y1, d.box.x2, d.box.y2 = 1, 2, 30, 40
    return pkt


def _alerts(deadline_s=5.0):
    stages = []
    return AlertManager(stages.append, describe_deadline_s=deadline_s), stages


def test_detected_at_once_then_the_description_is_recorded():
    alerts, stages = _alerts()
    engine, stats = Engine(), Counter()
    aid, describing = describe_event(alerts, engine, stats, "edge", _packet(), IMAGE)
    assert [a.stage for a in stages] == ["detected"] and stages[0].labels == {"car": 1}
    status, text = asyncio.run(describing())
    assert status == "ok" and "A car waits." in text and stats["described"] == 1
    assert [a.stage for a in stages] == ["detected", "described"]
    req = engine.requests[0]
    assert req.request_id == aid and req.hints["zone"] == "gate" and req.detections[0]["label"] == "car"


def test_no_description_without_the_model_frame_or_twice_for_one_alert():
    alerts, stages = _alerts()
    engine = Engine()
    assert describe_event(alerts, engine, Counter(), "edge", _packet(pb.ALERT_METADATA), IMAGE)[1] is None
    assert describe_event(alerts, engine, Counter(), "edge", _packet(), None)[1] is None
    _, first = describe_event(alerts, engine, Counter(), "edge", _packet(), IMAGE)
    assert first is not None
    assert describe_event(alerts, engine, Counter(), "edge", _packet(), IMAGE)[1] is None   # claimed already
    assert [a.stage for a in stages] == ["detected"]


def test_a_failing_model_still_finishes_the_alert():
    alerts, stages = _alerts()
    stats = Counter()
    _, describing = describe_event(alerts, Engine(error=RuntimeError("boom")), stats, "edge", _packet(), IMAGE)
    assert asyncio.run(describing()) == ("error", "")
    assert stats["describe_errors"] == 1 and stages[-1].stage == "described"


def test_the_worker_stops_waiting_at_the_deadline():
    alerts, stages = _alerts(deadline_s=0.05)
    stats = Counter()
    _, describing = describe_event(alerts, Engine(delay_s=5.0), stats, "edge", _packet(), IMAGE,
                                   stop_at_deadline=True)
    assert asyncio.run(describing()) == ("timeout", "")
    assert stats["describe_timeouts"] == 1
    assert stages[-1].stage == "described" and stages[-1].description_status == "timeout"
