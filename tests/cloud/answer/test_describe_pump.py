"""DescribePump against a fake engine: what reaches the model, and how every job ends."""
import asyncio
import time
from types import SimpleNamespace

import pytest

from cloud.answer.describe_pump import DescribePump
from cloud.answer.describe_queue import DescribeJob


class GateEngine:
    """Each describe() waits until the test opens its gate; records what it was asked."""

    def __init__(self, latency_s: float = 0.0, fail: Exception | None = None):
        self.asked: list[str] = []
        self.cancelled: list[str] = []
        self.latency_s, self.fail = latency_s, fail

    async def describe(self, payload):
        self.asked.append(payload)
        try:
            await asyncio.sleep(self.latency_s)
        except asyncio.CancelledError:
            self.cancelled.append(payload)
            raise
        if self.fail is not None:
            raise self.fail
        return SimpleNamespace(payload=payload, prefill_ms=1.0, decode_ms=1.0)


def make(engine, capacity=8, concurrency=1):
    ends: list[tuple] = []
    pump = DescribePump(engine.describe, capacity=capacity, concurrency=concurrency,
                        on_result=lambda j, r: ends.append(("ok", j.key, r.payload)),
                        on_failed=lambda j, e: ends.append(("error", j.key, str(e))),
                        on_dropped=lambda j, why: ends.append((why, j.key)))
    return pump, ends


def job(key, payload=None, sev=0.5, deadline_in=30.0):
    now = time.time()
    return DescribeJob(key=key, severity=sev, deadline=now + deadline_in, arrival=now, payload=payload or key)


async def settle(pump, seconds=0.3):
    await asyncio.sleep(seconds)
    await pump.wait_idle(1.0)
    pump.close()


def test_a_job_whose_deadline_passes_while_it_waits_never_reaches_the_engine():
    async def main():
        engine = GateEngine(latency_s=0.4)
        pump, ends = make(engine, concurrency=1)
        pump.submit(job("busy", sev=0.9))
        pump.submit(job("doomed", deadline_in=0.7))   # waits behind "busy": too late once it is free
        await settle(pump, 1.0)
        return engine, ends
    engine, ends = asyncio.run(main())
    assert engine.asked == ["busy"]
    assert ("deadline", "doomed") in ends and ("ok", "busy", "busy") in ends


def test_a_running_description_is_cancelled_at_its_deadline():
    async def main():
        engine = GateEngine(latency_s=5.0)
        pump, ends = make(engine)
        pump.submit(job("slow", deadline_in=0.8))   # starts (0.8 s > the start margin), cannot finish
        await settle(pump, 1.2)
        return engine, ends, pump
    engine, ends, pump = asyncio.run(main())
    assert engine.asked == ["slow"]
    assert ends == [("deadline", "slow")] and engine.cancelled == ["slow"]
    assert pump.stats()["late"] == 1


def test_updates_of_one_event_coalesce_into_one_description_of_the_latest_frame():
    async def main():
        engine = GateEngine(latency_s=0.2)
        pump, ends = make(engine, concurrency=1)
        pump.submit(job("first"))
        for i in range(3):
            pump.submit(job("walker", payload=f"walker-frame-{i}"))
        await settle(pump, 0.8)
        return engine, ends
    engine, ends = asyncio.run(main())
    assert engine.asked == ["first", "walker-frame-2"]


def test_the_more_severe_event_is_described_first():
    async def main():
        engine = GateEngine(latency_s=0.05)
        pump, ends = make(engine, concurrency=1)
        pump.submit(job("passer-by", sev=0.2))
        pump.submit(job("intrusion", sev=1.0))
        await settle(pump, 0.4)
        return engine
    assert asyncio.run(main()).asked == ["intrusion", "passer-by"]


def test_a_full_queue_sheds_and_reports_overloaded():
    async def main():
        engine = GateEngine(latency_s=0.2)
        pump, ends = make(engine, capacity=1, concurrency=1)
        pump.submit(job("a", sev=0.9))
        await asyncio.sleep(0.05)            # a is being described; the queue holds one more
        pump.submit(job("b", sev=0.5))
        pump.submit(job("c", sev=0.1))       # the least important of b and c: shed
        await settle(pump, 0.6)
        return engine, ends, pump
    engine, ends, pump = asyncio.run(main())
    assert ("overloaded", "c") in ends and engine.asked == ["a", "b"]
    assert pump.stats()["shed"] == 1


@pytest.mark.parametrize("reason", ["overloaded", "deadline"])
def test_an_engine_refusing_for_load_is_a_timeout_with_its_reason_not_an_error(reason):
    exc = RuntimeError("refused")
    exc.timeout_reason = reason
    async def main():
        pump, ends = make(GateEngine(fail=exc))
        pump.submit(job("x"))
        await settle(pump, 0.2)
        return ends
    assert asyncio.run(main()) == [(reason, "x")]


def test_a_real_model_failure_stays_an_error():
    async def main():
        pump, ends = make(GateEngine(fail=ValueError("model exploded")))
        pump.submit(job("x"))
        await settle(pump, 0.2)
        return ends
    assert asyncio.run(main()) == [("error", "x", "model exploded")]


def test_queued_engine_describes_the_newest_frame_of_a_waiting_event_and_names_why_one_was_dropped():
    from cloud.answer.describe_pump import DescribeDropped, QueuedEngine

    class Engine(GateEngine):
        def backpressure(self):
            return 0.0

    def req(rid, frame, sev=0.5, deadline_in=30.0):
        return SimpleNamespace(request_id=rid, severity=sev, deadline=time.time() + deadline_in, frame=frame)

    async def main():
        engine = Engine(latency_s=0.2)
        queued = QueuedEngine(engine, capacity=1, concurrency=1)
        first = asyncio.create_task(queued.describe(req("a", "a-1", sev=0.9)))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(queued.describe(req("b", "b-1")))
        await asyncio.sleep(0)
        assert queued.refresh(req("b", "b-2")) and not queued.refresh(req("a", "a-2"))   # a is running
        shed = asyncio.create_task(queued.describe(req("c", "c-1", sev=0.1)))
        results = await asyncio.gather(first, waiting, shed, return_exceptions=True)
        queued.close()
        return engine, results, queued.queue_stats()
    engine, (a, b, c), stats = asyncio.run(main())
    assert [r.frame for r in engine.asked] == ["a-1", "b-2"]
    assert a.payload.frame == "a-1" and b.payload.frame == "b-2"
    assert isinstance(c, DescribeDropped) and c.timeout_reason == "overloaded"
    assert stats["shed"] == 1 and stats["coalesced"] == 1
