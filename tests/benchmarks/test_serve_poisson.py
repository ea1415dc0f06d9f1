"""Poisson serving harness: arrivals, open-loop sending and time to description, on fake servers."""
import asyncio
import json

import numpy as np
import pytest

from benchmarks.serve_poisson import (MAX_KINDS, Arrival, headline, make_request, percentile, poisson_schedule,
                                      run_open_loop, run_stats, shipped_pruner)

ANSWER = json.dumps({"summary": "a person walks", "threat_level": 0, "objects": [], "action": "walking"})
FRAMES = [np.zeros((48, 64, 3), np.uint8)]


def test_schedule_is_poisson_seeded_and_spread_over_streams_with_varied_events():
    s = poisson_schedule(2.0, 4000, 4, seed=1)
    gaps = np.diff([0.0] + [a.at_s for a in s])
    assert np.mean(gaps) == pytest.approx(0.5, rel=0.05) and np.std(gaps) == pytest.approx(0.5, rel=0.08)
    assert {a.stream for a in s} == {0, 1, 2, 3} and {a.kinds for a in s} == set(range(1, MAX_KINDS + 1))
    assert s == poisson_schedule(2.0, 4000, 4, seed=1) and s != poisson_schedule(2.0, 4000, 4, seed=2)
    assert {a.stream for a in poisson_schedule(1.0, 50, 1, seed=0)} == {0}
    with pytest.raises(ValueError, match="rate"):
        poisson_schedule(0.0, 3, 1, seed=0)


def test_percentile_is_nearest_rank():
    xs = list(range(1, 21))
    assert percentile(xs, 0.95) == 19 and percentile(xs, 0.5) == 10 and percentile([3.0], 0.95) == 3.0


def test_requests_carry_one_to_four_kinds_for_varied_answers():
    r = make_request(Arrival(0.0, 2, 3), 5, FRAMES, "t")
    assert r.camera_id == "cam2" and len(r.hints["counts"]) == 3
    assert len(r.detections) == sum(r.hints["counts"].values())


def test_open_loop_time_to_description_includes_queueing_behind_a_one_at_a_time_server():
    """Arrivals every ~0 s; a server that answers one request at a time makes the last wait for all."""
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
    slow = asyncio.run(run_open_loop(one_at_a_time, burst, FRAMES, "a"))
    fast = asyncio.run(run_open_loop(concurrent, burst, FRAMES, "b"))
    assert slow["valid"] == 6 and slow["ttd_p95_s"] >= 5 * service and slow["ttd_p50_s"] < slow["ttd_p95_s"]
    assert fast["ttd_p95_s"] < 2 * service


def test_spaced_arrivals_are_sent_at_their_time_and_bad_answers_count_as_invalid():
    async def echo(req):
        return ("not json" if req.request_id.endswith("-1") else ANSWER), 5

    res = asyncio.run(run_open_loop(echo, [Arrival(0.0, 0, 1), Arrival(0.15, 0, 1)], FRAMES, "c"))
    assert res["requests"] == 2 and res["valid"] == 1
    assert 0.12 <= res["valid_answers_per_s"] ** -1 <= 0.4   # span ~0.15 s: the second was sent at its time


def test_run_stats_and_headline_shape():
    st = run_stats([0.0, 1.0, 2.0], [1.0, 3.0, 2.5], [True, True, False], [10, 20, 30])
    assert st["ttd_p50_s"] == 1.0 and st["ttd_p95_s"] == 2.0 and st["valid_answers_per_s"] == round(2 / 3.0, 4)
    assert st["tokens_min"] == 10 and st["tokens_max"] == 30

    def summ(v):
        return {"median": v, "ci95": [v, v]}

    cell = {arm: {"ttd_p95_s": summ(p), "valid_answers_per_s": summ(1.0)}
            for arm, p in (("one_by_one", 8.0), ("engine", 4.0), ("engine_pruned", 2.0))}
    cell["p95_one_by_one_over_engine"] = {"ratio": 2.0, "ci95": [1.5, 2.5]}
    cell["p95_one_by_one_over_engine_pruned"] = {"ratio": 4.0, "ci95": [3.0, 5.0]}
    h = headline({"0.4/16": cell}, [0.1, 0.4], [1, 16])
    assert h["poisson_p95_ttd_s_engine_pruned"]["value"] == 2.0
    assert h["poisson_p95_ratio_one_by_one_over_engine_pruned"]["value"] == 4.0
    assert h["headline_cell"] == {"rate_per_s": 0.4, "streams": 16}


def test_the_pruned_arm_uses_the_shipped_settings():
    from cloud.prune.config import PrunerConfig

    cfg = shipped_pruner()   # config/cloud.yaml's engine.pruner over the defaults
    assert cfg.method == "id_selection" and cfg.budget == 64 and cfg.gamma == PrunerConfig().gamma
