"""Delivery from the outbox through a real HTTP receiver: signatures, retries, order, dead letters, breaker."""
import asyncio
import time

from cloud.alerts.alert import Alert
from cloud.alerts.dispatcher import Dispatcher, RetryPolicy, Route
from cloud.alerts.filters import AlertFilter
from cloud.alerts.outbox import Outbox
from cloud.alerts.sinks.base import DeliveryError
from cloud.alerts.sinks.webhook import WebhookSink
from vigil_tools.webhook_echo import WebhookReceiver

SECRET = "test-secret-123"
FAST = RetryPolicy(backoff_initial_s=0.02, backoff_max_s=0.05, breaker_open_initial_s=0.02, breaker_open_max_s=0.05)


def _alert(stage="detected", aid="a1", camera="c", labels=None, severity=0.5):
    return Alert(alert_id=aid, stage=stage, edge_id="e", camera_id=camera, event_id="ev", event_onset=1.0,
                 labels=labels or {"person": 2}, detections=[], severity=severity)


def test_500_then_200_is_delivered_after_retry_in_order():
    rx = WebhookReceiver(SECRET, fail_first=2, quiet=True).start()
    try:
        async def go():
            d = Dispatcher(Outbox(None), [WebhookSink(rx.url, SECRET)], FAST)
            d.start()
            d.submit(_alert("detected"))
            d.submit(_alert("described"))
            assert await d.drain(10)
            await d.close()
            return d.stats
        stats = asyncio.run(go())
    finally:
        rx.stop()
    assert rx.requests >= 4                      # two 500s, then both stages
    assert [r.body["stage"] for r in rx.received] == ["detected", "described"]
    assert all(r.signature_ok for r in rx.received)
    assert [r.headers["webhook-id"] for r in rx.received] == ["a1.detected", "a1.described"]
    assert stats["retries"] >= 2 and stats["delivered_described"] == 1


def test_rejected_stage_is_a_dead_letter_and_holds_back_the_next_stage_until_replayed(tmp_path):
    rx = WebhookReceiver("receiver-secret", quiet=True).start()     # wrong secret: 401, not retried
    box = Outbox(tmp_path / "o.db")
    try:
        async def go():
            d = Dispatcher(box, [WebhookSink(rx.url, "another-secret", name="hook")], FAST)
            d.start()
            d.submit(_alert("detected"))
            await asyncio.sleep(0.3)
            d.submit(_alert("described"))      # after detected went dead: held back, never overtakes it
            assert await d.drain(5)
            await d.close()
            return d.stats
        stats = asyncio.run(go())
        assert rx.received == [] and stats["dead_lettered"] == 1 and rx.requests == 1
        letters = box.dead_letters()
        assert [(x.stage_id, x.sink) for x in letters] == [("a1.detected", "hook"), ("a1.described", "hook")]
        assert "HTTP 401" in letters[0].last_error and "held back" in letters[1].last_error
        # The receiver is fixed; replaying delivers both, in order.
        rx.secret = "another-secret"
        assert box.replay_dead() == 2

        async def again():
            d = Dispatcher(box, [WebhookSink(rx.url, "another-secret", name="hook")], FAST)
            d.start()
            assert await d.drain(5)
            await d.close()
        asyncio.run(again())
    finally:
        rx.stop()
    assert [r.body["stage"] for r in rx.received] == ["detected", "described"]
    assert box.dead_count() == 0 and box.pending_count() == 0


class _Down:
    """A sink that fails (retryably) until ``up`` is set, recording attempts."""
    name = "down"

    def __init__(self):
        self.up, self.attempts, self.got = False, 0, []

    async def send(self, alert):
        self.attempts += 1
        if not self.up:
            raise DeliveryError("connection refused")
        self.got.append(alert.idempotency_key)

    async def close(self):
        pass


def test_breaker_limits_attempts_while_down_and_everything_arrives_in_order_after():
    sink = _Down()
    policy = RetryPolicy(backoff_initial_s=0.01, backoff_max_s=0.02, breaker_failures=3,
                         breaker_open_initial_s=0.2, breaker_open_max_s=0.2, max_in_flight=8)

    async def go():
        d = Dispatcher(Outbox(None), [sink], policy)
        d.start()
        for i in range(10):
            d.submit(_alert("detected", aid=f"a{i}"))
            d.submit(_alert("described", aid=f"a{i}"))
        await asyncio.sleep(1.0)
        attempts_down = sink.attempts
        sink.up = True
        assert await d.drain(5)
        await d.close()
        return attempts_down
    attempts_down = asyncio.run(go())
    # Without the breaker, 10 alerts retrying every <=20 ms for 1 s would be ~500+ attempts.
    assert attempts_down < 60, attempts_down
    assert sorted(sink.got) == sorted(f"a{i}.{s}" for i in range(10) for s in ("detected", "described"))
    for i in range(10):
        assert sink.got.index(f"a{i}.detected") < sink.got.index(f"a{i}.described")


class _Collect:
    def __init__(self, name):
        self.name, self.got = name, []

    async def send(self, alert):
        self.got.append((alert.camera_id, alert.stage))

    async def close(self):
        pass


def test_per_endpoint_filters():
    door, people, severe = _Collect("door"), _Collect("people"), _Collect("severe")

    async def go():
        d = Dispatcher(Outbox(None), [Route(door, AlertFilter(cameras=frozenset({"door"}))),
                                      Route(people, AlertFilter(labels=frozenset({"person"}))),
                                      Route(severe, AlertFilter(min_severity=0.8))], FAST)
        d.start()
        d.submit(_alert(aid="x1", camera="door", labels={"car": 1}, severity=0.9))
        d.submit(_alert(aid="x2", camera="yard", labels={"person": 1}, severity=0.2))
        assert await d.drain(5)
        await d.close()
    asyncio.run(go())
    assert door.got == [("door", "detected")]
    assert people.got == [("yard", "detected")]
    assert severe.got == [("door", "detected")]


class _Flaky:
    """Down until ``up``; after that each stage fails once (a transient ReadError) before it goes through."""
    name = "flaky"

    def __init__(self):
        self.up, self.failed_once, self.got = False, set(), []

    async def send(self, alert):
        if not self.up:
            raise DeliveryError("connection refused")
        if alert.idempotency_key not in self.failed_once:
            self.failed_once.add(alert.idempotency_key)
            raise DeliveryError("ReadError")
        self.got.append(alert.idempotency_key)

    async def close(self):
        pass


def test_one_replay_after_a_long_outage_delivers_everything_through_a_flaky_receiver(tmp_path):
    sink = _Flaky()
    policy = RetryPolicy(backoff_initial_s=0.01, backoff_max_s=0.05, give_up_after_s=0.3, breaker_failures=1000)
    box = Outbox(tmp_path / "o.db")

    async def outage():
        d = Dispatcher(box, [sink], policy)
        d.start()
        for i in range(6):
            d.submit(_alert("detected", aid=f"a{i}"))
            d.submit(_alert("described", aid=f"a{i}"))
        assert await d.drain(5)           # everything gave up: dead letters
        await d.close()
    asyncio.run(outage())
    assert box.dead_count() == 12 and sink.got == []
    time.sleep(0.4)                       # the letters are now older than give_up_after_s
    sink.up = True
    assert box.replay_dead() == 12        # one replay

    async def after():
        d = Dispatcher(box, [sink], policy)
        d.start()
        assert await d.drain(5)
        await d.close()
    asyncio.run(after())
    assert box.dead_count() == 0 and box.pending_count() == 0
    assert sorted(sink.got) == sorted(f"a{i}.{s}" for i in range(6) for s in ("detected", "described"))


def test_a_replayed_dead_letter_gets_a_new_budget_and_first_backoff_step(tmp_path):
    now = [100.0]
    box = Outbox(tmp_path / "o.db", clock=lambda: now[0])
    box.add(_alert("detected"), ["hook"])
    (d,) = box.due("hook", now[0], 10)
    assert d.budget_from == 100.0
    box.retry_later(d.stage_id, "hook", now[0], "x")
    box.dead(d.stage_id, "hook", "gave up")
    now[0] = 5000.0
    box.replay_dead()
    (d,) = box.due("hook", now[0], 10)
    assert d.budget_from == 5000.0 and d.attempts == 0 and d.created == 100.0


class _FullDiskOutbox(Outbox):
    """An outbox whose writes and reads fail while ``full`` (as SQLite on a full disk)."""

    def __init__(self):
        super().__init__(None)
        self.full, self.reads_fail = False, False

    def _fail(self, flag):
        if flag:
            import sqlite3
            raise sqlite3.OperationalError("database or disk is full")

    def delivered(self, sid, sink):
        self._fail(self.full)
        super().delivered(sid, sink)

    def due(self, *a, **kw):
        self._fail(self.reads_fail)
        return super().due(*a, **kw)


class _Counting:
    name = "rx"

    def __init__(self):
        self.got = []

    async def send(self, alert):
        self.got.append(alert.idempotency_key)

    async def close(self):
        pass


def test_delivery_survives_a_full_outbox_and_sends_nothing_twice():
    box, sink = _FullDiskOutbox(), _Counting()
    storage_errors = []

    async def go():
        d = Dispatcher(box, [sink], FAST)
        d.on_outbox_error = storage_errors.append
        d.start()
        box.full = True
        d.submit(_alert("detected", aid="a0"))        # the send goes out; recording it fails
        await asyncio.sleep(0.5)
        assert sink.got == ["a0.detected"]            # not sent again while its outcome waits to be recorded
        box.reads_fail = True                         # now the outbox cannot even be read
        await asyncio.sleep(0.3)
        assert all(not w.done() for w in d._workers)  # the worker is alive
        box.full = box.reads_fail = False
        for i in range(1, 4):
            d.submit(_alert("detected", aid=f"a{i}"))
        assert await d.drain(5)
        await d.close()
    asyncio.run(go())
    assert storage_errors and sorted(sink.got) == [f"a{i}.detected" for i in range(4)]   # a0 once, not twice
