"""DescribePump: feeds the engine from the DescribeQueue, and never past a job's deadline.

The ingest ``submit``s one job per event that wants a description; which job the engine gets
next is the queue's decision (cloud/answer/describe_queue.py: severity, then earliest deadline; one
pending job per event; bounded). At most ``concurrency`` descriptions run at once, fewer while a
batch that large would not finish in time (cloud/answer/batch_limit.py): the engine batches those
(continuous batching), and everything else waits here, where it can still be coalesced, shed or
dropped, instead of inside the engine, where it could only wait.

A job is handed out only when it can still finish: ``take`` is given the recent time one
description takes (``service_s``, a moving average of start to answer), so a job whose deadline falls inside it
is dropped as ``deadline`` instead of computed for nobody. A running description is cancelled
at its deadline (the engine frees its batch row). Every job ends in exactly one callback:
``on_result(job, result)``, ``on_failed(job, exc)`` or ``on_dropped(job, reason)`` with reason
``overloaded`` (shed from a full queue, or refused by the engine) or ``deadline``.

``QueuedEngine`` is the pump behind the engine interface (``async describe(request)``), which is
what the describe path (cloud/answer/describe.py) awaits: a request either gets its result, or
raises the engine's error, or ``DescribeDropped`` naming the reason.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Awaitable, Callable

from cloud.answer.batch_limit import BatchLimit
from cloud.answer.describe_queue import DescribeJob, DescribeQueue, Dropped, is_second

log = logging.getLogger("vigil.cloud")

TICK_S = 0.5            # how often waiting jobs are checked against their deadlines when nothing else happens
SERVICE_EWMA = 0.2      # weight of the newest description in the service-time average
# A description must be expected to finish this much before its deadline to be started
# (room for the alert to be committed and the edge told).
DEADLINE_MARGIN_S = 0.5


def timeout_reason(exc: BaseException) -> str | None:
    """``overloaded`` or ``deadline`` when an engine refused a job for load, else None (a real failure)."""
    return getattr(exc, "timeout_reason", None)


class DescribePump:
    def __init__(self, describe: Callable[[Any], Awaitable[Any]], *, capacity: int, concurrency: int,
                 on_result: Callable[[DescribeJob, Any], None],
                 on_failed: Callable[[DescribeJob, Exception], None],
                 on_dropped: Callable[[DescribeJob, str], None],
                 clock: Callable[[], float] = time.time):
        self._describe_payload = describe   # the engine call for one job's payload
        self.queue = DescribeQueue(capacity)
        self.limit = BatchLimit(concurrency)
        self._on_result, self._on_failed, self._on_dropped = on_result, on_failed, on_dropped
        self._clock = clock
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task] = {}
        self._loop_task: asyncio.Task | None = None
        self.service_s = 0.0          # moving average of one description, start to answer, seconds
        self.late_running = 0         # descriptions cancelled at their deadline while computing
        self.refused = 0              # jobs the engine itself refused for load

    # -- the ingest side -------------------------------------------------------------------
    def submit(self, job: DescribeJob) -> None:
        """Queue a job (a newer job of the same event replaces its pending one)."""
        if job.key in self._running:
            return  # already being described from an earlier frame; that answer will do
        if self._loop_task is None:   # started by the first job, on the caller's event loop
            self._loop_task = asyncio.get_running_loop().create_task(self.run())
        self._report(self.queue.offer(job, self._clock()))
        self._wake.set()

    def cancel(self, key: str) -> None:
        """Forget ``key``'s job, queued or running (nobody waits for it any more); no callback follows."""
        self.queue.cancel(key)
        task = self._running.pop(key, None)
        if task is not None:
            task.cancel()

    def close(self) -> None:
        """Stop handing out jobs and cancel the running ones (their alerts stay open for the deadline)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
        for task in self._running.values():
            task.cancel()

    def pressure(self) -> float:
        return self.queue.pressure()

    def stats(self) -> dict:
        c = self.queue.counts
        return {"depth": len(self.queue), "running": len(self._running), "offered": c.offered,
                "coalesced": c.coalesced, "shed": c.shed + self.refused, "late": c.late + self.late_running,
                "service_s": round(self.service_s, 3), "batch_limit": self.limit.current,
                "second_shed": c.shed_second, "second_late": c.late_second}

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            self._fill()

    def _fill(self) -> None:
        if len(self._running) >= self.limit.current:
            self._report(self.queue.expire(self._clock()))
            return
        while len(self._running) < self.limit.current:
            job, dropped = self.queue.take(self._clock(), self.service_s + DEADLINE_MARGIN_S)
            self._report(dropped)
            if job is None:
                return
            task = asyncio.get_running_loop().create_task(self._describe(job))
            self._running[job.key] = task

    async def _describe(self, job: DescribeJob) -> None:
        started = self._clock()
        try:
            left = None if math.isinf(job.deadline) else max(0.0, job.deadline - started)
            result = await asyncio.wait_for(self._describe_payload(job.payload), left)
        except asyncio.TimeoutError:   # the engine frees the cancelled request's batch row
            self._count_running_drop(job, "deadline")
            self.limit.missed()
            self._on_dropped(job, "deadline")
        except Exception as exc:  # noqa: BLE001 - every failure ends the job in one callback
            reason = timeout_reason(exc)
            if reason is None:
                self._on_failed(job, exc)
            else:
                self._count_running_drop(job, reason)
                self._on_dropped(job, reason)
        else:
            took = self._clock() - started
            self.service_s = took if self.service_s == 0.0 else (
                (1 - SERVICE_EWMA) * self.service_s + SERVICE_EWMA * took)
            self.limit.finished(took, job.deadline - started, backlog=len(self.queue) > 0)
            self._on_result(job, result)
        finally:
            if self._running.get(job.key) is asyncio.current_task():   # not a newer job of the same event
                del self._running[job.key]
            self._wake.set()

    def _count_running_drop(self, job: DescribeJob, reason: str) -> None:
        """A job that left the engine unserved: a first description's drop is an alert's timeout, counted in
        ``shed``/``late``; a second description's is counted apart (cloud/answer/describe_queue.py)."""
        if job.tier:
            c = self.queue.counts
            c.shed_second += reason == "overloaded"
            c.late_second += reason == "deadline"
        else:
            self.refused += reason == "overloaded"
            self.late_running += reason == "deadline"

    def _report(self, dropped: list[Dropped]) -> None:
        for d in dropped:
            self._on_dropped(d.job, d.reason)

    async def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait for the running descriptions (queued ones stay queued)."""
        tasks = list(self._running.values())
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending


class DescribeDropped(RuntimeError):
    """A request left the describe queue unserved; ``timeout_reason`` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.timeout_reason = reason


DROP_DETAIL = {
    "overloaded": "describe queue full: a more important event took its place",
    "deadline": "its deadline came before the model could describe it",
}


class QueuedEngine:
    """``engine`` behind a DescribePump, with the engine's face: ``describe(req)`` waits its turn (keyed by
    ``req.request_id``, the alert id); ``refresh(req)`` gives a still-queued request of the same alert
    a newer frame. Everything else is the wrapped engine's."""

    def __init__(self, engine, *, capacity: int, concurrency: int, clock: Callable[[], float] = time.time):
        self.engine = engine
        self._clock = clock
        self.pump = DescribePump(lambda req: self.engine.describe(req), capacity=capacity, concurrency=concurrency,
                                 on_result=self._resolved, on_failed=self._failed, on_dropped=self._dropped,
                                 clock=clock)
        self._waiting: dict[str, asyncio.Future] = {}

    def __getattr__(self, name):
        return getattr(self.engine, name)

    async def describe(self, req):
        future = asyncio.get_running_loop().create_future()
        self._waiting[req.request_id] = future
        self.pump.submit(self._job(req))
        try:
            return await future
        except asyncio.CancelledError:
            self.pump.cancel(req.request_id)
            raise
        finally:
            if self._waiting.get(req.request_id) is future:
                del self._waiting[req.request_id]

    def refresh(self, req) -> bool:
        """A newer frame for a request still waiting in the queue; False when it is no longer queued."""
        if req.request_id not in self.pump.queue:
            return False
        self.pump.submit(self._job(req))
        return True

    def queued(self, key: str) -> bool:
        """A request of ``key`` waits in the queue (not yet being described)."""
        return key in self.pump.queue

    def backpressure(self) -> float:
        return max(float(self.engine.backpressure()), self.pump.pressure())

    def queue_stats(self) -> dict:
        return self.pump.stats()

    def close(self) -> None:
        self.pump.close()

    def _job(self, req) -> DescribeJob:
        deadline = math.inf if req.deadline is None else float(req.deadline)
        return DescribeJob(key=req.request_id, severity=float(req.severity), deadline=deadline,
                           arrival=self._clock(), payload=req, tier=int(is_second(req.request_id)))

    def _settle(self, key: str, result=None, error: BaseException | None = None) -> None:
        future = self._waiting.get(key)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def _resolved(self, job: DescribeJob, result) -> None:
        self._settle(job.key, result=result)

    def _failed(self, job: DescribeJob, error: Exception) -> None:
        self._settle(job.key, error=error)

    def _dropped(self, job: DescribeJob, reason: str) -> None:
        q = self.pump.stats()
        detail = DROP_DETAIL[reason] + (f" ({q['depth']} waiting, {q['running']} being described)"
                                        if reason == "overloaded" else "")
        self._settle(job.key, error=DescribeDropped(reason, detail))
