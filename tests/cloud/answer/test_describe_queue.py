"""DescribeQueue properties, as plain data (no torch, no threads, no clock)."""
import subprocess
import sys

import pytest

from cloud.answer.describe_queue import DescribeJob, DescribeQueue, Dropped


def job(key, sev=0.5, deadline=100.0, t=0.0, payload=None):
    return DescribeJob(key=key, severity=sev, deadline=deadline, arrival=t, payload=payload)


def drain(q: DescribeQueue, now: float, service_s: float = 0.0) -> tuple[list[str], list[Dropped]]:
    """Take everything the queue will still hand out at ``now``: (keys in order, dropped)."""
    order, dropped = [], []
    while True:
        j, d = q.take(now, service_s)
        dropped += d
        if j is None:
            return order, dropped
        order.append(j.key)


# -- a job past its deadline is never computed --------------------------------------------------
@pytest.mark.parametrize("deadline,now,service_s,taken", [
    (10.0, 9.0, 0.0, True),     # still time
    (10.0, 10.0, 0.0, False),   # at the deadline: useless
    (10.0, 11.0, 0.0, False),   # past it
    (10.0, 8.0, 3.0, False),    # would finish past it
    (10.0, 6.0, 3.0, True),     # would finish in time
])
def test_a_job_that_cannot_finish_before_its_deadline_is_never_handed_out(deadline, now, service_s, taken):
    q = DescribeQueue(capacity=4)
    q.offer(job("a", deadline=deadline), now=0.0)
    got, dropped = q.take(now, service_s)
    assert (got is not None) == taken
    assert [(d.job.key, d.reason) for d in dropped] == ([] if taken else [("a", "deadline")])
    assert len(q) == 0 and q.counts.late == (0 if taken else 1)


def test_a_job_offered_past_its_deadline_is_refused_as_late():
    q = DescribeQueue(capacity=4)
    assert q.offer(job("a", deadline=5.0), now=5.0) == [Dropped(job("a", deadline=5.0), "deadline")]
    assert len(q) == 0


def test_expired_jobs_leave_while_fresh_ones_are_served():
    q = DescribeQueue(capacity=8)
    for key, deadline in [("old1", 3.0), ("fresh", 50.0), ("old2", 4.0)]:
        q.offer(job(key, deadline=deadline), now=0.0)
    order, dropped = drain(q, now=10.0)
    assert order == ["fresh"]
    assert sorted(d.job.key for d in dropped) == ["old1", "old2"]
    assert {d.reason for d in dropped} == {"deadline"}


# -- updates of one event coalesce ---------------------------------------------------------------
def test_a_newer_job_of_the_same_event_replaces_the_pending_one_and_keeps_its_place():
    q = DescribeQueue(capacity=8)
    q.offer(job("ev1", t=0.0, payload="frame-1"), now=0.0)
    q.offer(job("ev2", t=1.0, payload="other"), now=1.0)
    assert q.offer(job("ev1", sev=0.5, t=2.0, payload="frame-3"), now=2.0) == []
    assert len(q) == 2 and q.counts.coalesced == 1
    first, _ = q.take(3.0)
    assert (first.key, first.payload, first.arrival) == ("ev1", "frame-3", 0.0)


def test_an_escalated_update_carries_its_higher_severity():
    q = DescribeQueue(capacity=8)
    q.offer(job("walker", sev=0.5, t=0.0), now=0.0)
    q.offer(job("other", sev=0.6, t=0.5), now=0.5)
    q.offer(job("walker", sev=0.9, t=1.0), now=1.0)   # entered a zone
    assert drain(q, now=2.0)[0] == ["walker", "other"]


# -- severity first, then earliest deadline -------------------------------------------------------
@pytest.mark.parametrize("jobs,expected", [
    # (key, severity, deadline, arrival)
    ([("low", 0.2, 10.0, 0.0), ("high", 0.9, 90.0, 1.0)], ["high", "low"]),              # severity beats deadline
    ([("late", 0.5, 90.0, 0.0), ("soon", 0.5, 10.0, 1.0)], ["soon", "late"]),            # then earliest deadline
    ([("b", 0.5, 30.0, 2.0), ("a", 0.5, 30.0, 1.0), ("c", 0.5, 30.0, 3.0)], ["a", "b", "c"]),  # then arrival
    ([("p", 0.5, 20.0, 0.0), ("i", 1.0, 40.0, 0.0), ("q", 0.5, 15.0, 0.0), ("z", 0.8, 60.0, 0.0)],
     ["i", "z", "q", "p"]),
])
def test_order_is_severity_then_deadline_then_arrival(jobs, expected):
    q = DescribeQueue(capacity=8)
    for key, sev, deadline, t in jobs:
        q.offer(job(key, sev=sev, deadline=deadline, t=t), now=0.0)
    assert drain(q, now=1.0)[0] == expected


# -- bounded: the least important job is shed and reported ---------------------------------------
def test_a_full_queue_sheds_its_least_important_job_for_a_more_important_newcomer():
    q = DescribeQueue(capacity=2)
    q.offer(job("a", sev=0.5, deadline=20.0), now=0.0)
    q.offer(job("b", sev=0.5, deadline=30.0), now=0.0)
    dropped = q.offer(job("intrusion", sev=1.0, deadline=30.0), now=0.0)
    assert [(d.job.key, d.reason) for d in dropped] == [("b", "overloaded")]
    assert drain(q, now=1.0)[0] == ["intrusion", "a"]
    assert q.counts.shed == 1


def test_a_newcomer_less_important_than_everything_queued_is_the_one_shed():
    q = DescribeQueue(capacity=2)
    q.offer(job("a", sev=0.9), now=0.0)
    q.offer(job("b", sev=0.9), now=0.0)
    dropped = q.offer(job("passer-by", sev=0.1), now=0.0)
    assert [(d.job.key, d.reason) for d in dropped] == [("passer-by", "overloaded")]
    assert len(q) == 2


def test_an_expired_job_makes_room_before_anything_is_shed():
    q = DescribeQueue(capacity=2)
    q.offer(job("stale", deadline=5.0), now=0.0)
    q.offer(job("b", deadline=50.0), now=0.0)
    dropped = q.offer(job("c", deadline=50.0), now=6.0)
    assert [(d.job.key, d.reason) for d in dropped] == [("stale", "deadline")]
    assert q.counts.shed == 0 and len(q) == 2


def test_coalescing_into_a_full_queue_sheds_nothing():
    q = DescribeQueue(capacity=1)
    q.offer(job("a", payload=1), now=0.0)
    assert q.offer(job("a", payload=2), now=0.1) == []
    assert q.take(0.2)[0].payload == 2


def test_every_offered_job_is_taken_or_reported_never_lost():
    """Under a random overload, offered = taken + dropped + still queued (per event key)."""
    import random
    rng = random.Random(7)
    q = DescribeQueue(capacity=5)
    taken, dropped = [], []
    now = 0.0
    for i in range(400):
        now += rng.uniform(0.0, 0.5)
        key = f"ev{rng.randrange(60)}"
        dropped += q.offer(job(key, sev=rng.choice([0.2, 0.5, 1.0]), deadline=now + rng.uniform(0.5, 8.0), t=now), now)
        if i % 3 == 0:
            j, d = q.take(now, service_s=0.5)
            dropped += d
            assert j is None or j.deadline > now + 0.5   # what is handed out can finish in time
            taken += [j] if j else []
    ends = len(taken) + len(dropped) + len(q)
    # Every job entered is accounted for once (coalesced updates merged into the job they joined).
    assert ends == q.counts.offered - q.counts.coalesced
    assert q.counts.shed == sum(d.reason == "overloaded" for d in dropped)
    assert q.counts.late == sum(d.reason == "deadline" for d in dropped)
    assert q.counts.shed > 0 and q.counts.late > 0   # the run did overload the queue


def test_pressure_is_the_fill_level():
    q = DescribeQueue(capacity=4)
    assert q.pressure() == 0.0
    q.offer(job("a"), now=0.0)
    q.offer(job("b"), now=0.0)
    assert q.pressure() == 0.5


def test_the_queue_imports_no_torch():
    code = "import sys, cloud.answer.describe_queue; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- second descriptions (cloud/answer/redescribe.py): after every first one, shed first -------------
def again(key, sev=0.5, deadline=100.0, t=0.0, payload=None):
    return DescribeJob(key=key + "/again", severity=sev, deadline=deadline, arrival=t, payload=payload, tier=1)


def test_a_second_description_waits_behind_every_first_one_whatever_its_severity():
    q = DescribeQueue(capacity=8)
    q.offer(again("intrusion", sev=1.0, deadline=5.0, t=0.0), now=0.0)
    q.offer(job("passer-by", sev=0.1, deadline=50.0, t=1.0), now=1.0)
    q.offer(job("cat", sev=0.2, deadline=60.0, t=2.0), now=2.0)
    assert drain(q, now=3.0)[0] == ["cat", "passer-by", "intrusion/again"]


def test_second_descriptions_of_one_event_coalesce_the_newest_frame_wins():
    q = DescribeQueue(capacity=8)
    q.offer(again("e1", t=0.0, payload="escalation frame"), now=0.0)
    q.offer(again("e1", t=5.0, payload="end frame"), now=5.0)
    j, _ = q.take(now=6.0)
    assert (j.key, j.payload, j.arrival, j.tier) == ("e1/again", "end frame", 0.0, 1)
    assert q.counts.coalesced == 1 and len(q) == 0


def test_a_full_queue_sheds_a_second_description_before_any_first_one():
    q = DescribeQueue(capacity=2)
    q.offer(job("low", sev=0.1, t=0.0), now=0.0)
    q.offer(again("high", sev=1.0, t=1.0), now=1.0)
    dropped = q.offer(job("another-low", sev=0.1, t=2.0), now=2.0)
    assert dropped == [Dropped(again("high", sev=1.0, t=1.0), "overloaded")]
    # and a second description arriving at a full queue of first ones is the one that goes
    dropped = q.offer(again("x", sev=1.0, t=3.0), now=3.0)
    assert [(d.job.key, d.reason) for d in dropped] == [("x/again", "overloaded")]
    assert drain(q, now=4.0)[0] == ["low", "another-low"]


def test_a_dropped_second_description_is_counted_apart_from_the_alerts_timeouts():
    q = DescribeQueue(capacity=1)
    q.offer(job("first"), now=0.0)
    q.offer(again("x"), now=0.0)                       # shed: the queue is full of a first description
    q.offer(again("late", deadline=1.0), now=2.0)      # past its deadline on arrival
    assert (q.counts.shed, q.counts.late, q.counts.shed_second, q.counts.late_second) == (0, 0, 1, 1)
