"""Poisson serving harness: arrivals, open-loop sending, valid answers and paired statistics, without a model."""
import asyncio
import json
import math

import numpy as np
import pytest

from benchmarks.serve_poisson import (MAX_KINDS, Arrival, Outcome, cell_stats, is_valid_answer, max_outstanding,
                                      paired_percentile_ratio, paired_throughput_ratio, percentile, poisson_schedule,
                                      rates_for, run_open_loop, run_stats)

ANSWER = json.dumps({"summary": "a person walks", "threat_level": 0, "objects": [], "action": "walking"})


def request(a: Arrival, i: int):
    return {"id": i, "stream": a.stream}


def test_schedule_is_poisson_seeded_and_spread_over_streams_with_varied_events():
    s = poisson_schedule(2.0, 4000, 4, seed=1)
    assert s[0].at_s == 0.0   # a run starts at its first arrival
    gaps = np.diff([a.at_s for a in s])
    assert np.mean(gaps) == pytest.approx(0.5, rel=0.05) and np.std(gaps) == pytest.approx(0.5, rel=0.08)
    assert {a.stream for a in s} == {0, 1, 2, 3} and {a.kinds for a in s} == set(range(1, MAX_KINDS + 1))
    assert s == poisson_schedule(2.0, 4000, 4, seed=1) and s != poisson_schedule(2.0, 4000, 4, seed=2)
    assert {a.stream for a in poisson_schedule(1.0, 50, 1, seed=0)} == {0}


def test_a_burst_arrives_at_once_and_bad_inputs_are_refused():
    assert {a.at_s for a in poisson_schedule(math.inf, 16, 16, seed=0)} == {0.0}
    for bad in ((0.0, 3, 1), (1.0, 3, 0), (1.0, 0, 1)):
        with pytest.raises(ValueError):
            poisson_schedule(*bad, seed=0)


def test_rates_are_multiples_of_one_by_one_capacity():
    assert rates_for([0.5, 1.0, 2.0], 10.0) == pytest.approx([0.05, 0.1, 0.2])
    with pytest.raises(ValueError):
        rates_for([1.0], 0.0)


def test_percentile_is_nearest_rank():
    xs = list(range(1, 21))
    assert percentile(xs, 0.95) == 19 and percentile(xs, 0.5) == 10 and percentile([3.0], 0.95) == 3.0


def test_only_answers_that_parse_into_the_alert_schema_are_valid():
    assert is_valid_answer(ANSWER)
    assert not is_valid_answer("not json") and not is_valid_answer("") and not is_valid_answer(None)
    assert not is_valid_answer(json.dumps({"summary": "x", "threat_level": 7, "objects": []}))   # out of the schema
    assert not is_valid_answer(ANSWER[:-5])                                                      # cut off


def test_open_loop_time_to_description_includes_queueing_behind_a_one_at_a_time_server():
    """Arrivals ~at once; a server answering one request at a time makes the last wait for all."""
    service = 0.05
    lock = asyncio.Lock()

    async def one_at_a_time(req):
        async with lock:
            await asyncio.sleep(service)
        return ANSWER, 10

    async def concurrent(req):
        await asyncio.sleep(service)
        return ANSWER, 10

    burst = [Arrival(0.001 * i, 0, 1) for i in range(6)]
    slow = run_stats(asyncio.run(run_open_loop(one_at_a_time, burst, request)))
    fast = run_stats(asyncio.run(run_open_loop(concurrent, burst, request)))
    assert slow["valid"] == 6 and slow["ttd_p95_s"] >= 5 * service and slow["ttd_p50_s"] < slow["ttd_p95_s"]
    assert slow["max_outstanding"] == 6 and fast["ttd_p95_s"] < 2 * service


def test_spaced_arrivals_are_sent_at_their_time_and_errors_count_as_invalid():
    async def server(req):
        if req["id"] == 2:
            raise RuntimeError("model step failed")
        return ("not json" if req["id"] == 1 else ANSWER), 5

    outs = asyncio.run(run_open_loop(server, [Arrival(0.0, 0, 1), Arrival(0.15, 0, 1), Arrival(0.2, 0, 1)], request))
    assert [o.valid for o in outs] == [True, False, False] and [o.index for o in outs] == [0, 1, 2]
    assert 0.14 <= outs[1].done_s < 0.4 and outs[1].ttd_s < 0.1   # sent at its time, not at t=0
    st = run_stats(outs)
    assert st["valid"] == 1 and st["valid_answers_per_s"] == pytest.approx(1 / st["span_s"], rel=0.01)


def test_run_stats_and_max_outstanding():
    outs = [Outcome(0, 0.0, 1.0, True, 10), Outcome(1, 1.0, 3.0, True, 20), Outcome(2, 2.0, 2.5, False, 30)]
    st = run_stats(outs)
    assert st["ttd_p50_s"] == 1.0 and st["ttd_p95_s"] == 2.0 and st["valid_answers_per_s"] == round(2 / 3.0, 4)
    assert st["tokens"] == [10, 20, 30] and st["valid_each"] == [True, True, False]
    assert max_outstanding(outs) == 2   # the answer at t=1.0 leaves as the second request arrives
    assert max_outstanding([Outcome(i, 0.0, 1.0, True, 1) for i in range(5)]) == 5


def test_paired_percentile_ratio_wins_only_when_its_interval_excludes_one():
    base = [10.0 + i for i in range(30)]
    faster = [x / 2 for x in base]
    r = paired_percentile_ratio(base, faster, 0.95)
    assert r["value"] == pytest.approx(2.0) and r["ci95"][0] > 1 and r["verdict"] == "win"
    same = paired_percentile_ratio(base, list(base), 0.95)
    assert same["value"] == 1.0 and same["verdict"] == "tie"
    assert paired_percentile_ratio(faster, base, 0.5)["verdict"] == "loss"
    with pytest.raises(ValueError):
        paired_percentile_ratio(base, base[:-1], 0.5)


def test_paired_throughput_ratio_is_per_repeat():
    r = paired_throughput_ratio([0.2, 0.4, 0.3], [0.1, 0.2, 0.1])
    assert r["values"] == pytest.approx([2.0, 2.0, 3.0]) and r["value"] == 2.0 and r["verdict"] == "win"
    assert paired_throughput_ratio([0.1, 0.1, 0.1], [0.1, 0.1, 0.1])["verdict"] == "tie"
    assert paired_throughput_ratio([0.4, 0.4], [0.1, 0.1])["verdict"] == "tie"   # two repeats bound nothing


def _run(ttd, valid=None, tokens=10, rate=0.5):
    valid = valid or [True] * len(ttd)
    return {"ttd_s": ttd, "tokens": [tokens] * len(ttd), "valid_each": valid, "valid_answers_per_s": rate,
            "max_outstanding": 3}


def test_cell_stats_pool_requests_and_pair_every_arm_with_the_baselines():
    runs = {"one_by_one": [_run([4.0, 8.0, 12.0], rate=0.2) for _ in range(3)],
            "static_batch": [_run([4.0, 7.0, 9.0], rate=0.25) for _ in range(3)],
            "engine": [_run([3.0, 4.0, 5.0], [True, True, False], rate=0.4) for _ in range(3)]}
    c = cell_stats(runs)
    assert c["one_by_one"]["ttd_p95_s"]["value"] == 12.0 and c["one_by_one"]["ttd_p95_s"]["n"] == 9
    assert c["engine"]["valid"] == 6 and c["engine"]["requests"] == 9
    e = c["engine_vs_one_by_one"]
    assert e["ttd_p95_ratio"]["value"] == pytest.approx(12.0 / 5.0) and e["throughput_ratio"]["value"] == 2.0
    assert e["ttd_mean_diff_s"]["value"] == pytest.approx(-4.0) and e["ttd_mean_diff_s"]["verdict"] == "win"
    assert "engine_vs_static_batch" in c and "static_batch_vs_one_by_one" in c
    assert "one_by_one_vs_one_by_one" not in c
