"""Serving benchmark's own logic (requests, shipped settings, grid, headlines), without a model."""
import math
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.catalog import CATALOG
from benchmarks.serve import CELLS, estimate_run_s, headlines, make_request, parse_cells, shipped_pruner
from benchmarks.serve_poisson import Arrival, cell_stats

FRAMES = [np.zeros((48, 64, 3), np.uint8)]


def test_requests_carry_one_to_four_kinds_and_the_same_request_for_every_arm():
    r = make_request(Arrival(0.0, 2, 3), 5, FRAMES, "t")
    assert r.camera_id == "cam2" and len(r.hints["counts"]) == 3
    assert len(r.detections) == sum(r.hints["counts"].values())
    again = make_request(Arrival(0.0, 2, 3), 5, FRAMES, "u")
    assert again.detections == r.detections and again.hints == r.hints


def test_the_pruned_arm_uses_the_shipped_settings():
    from cloud.prune.config import PrunerConfig

    cfg = shipped_pruner()   # config/cloud.yaml's engine.pruner over the defaults
    assert cfg.method == "id_selection" and cfg.budget == 64 and cfg.gamma == PrunerConfig().gamma


def test_grid_spans_light_load_to_past_one_by_one_capacity_with_1_4_and_16_streams():
    assert min(f for f, _, _ in CELLS) < 1 < max(f for f, _, _ in CELLS)
    assert {s for _, s, _ in CELLS} == {1, 4, 16}
    assert parse_cells("0.5:1:3,2:16:6") == ((0.5, 1, 3), (2.0, 16, 6))
    # the arrival window bounds a light cell, one-by-one's busy time a loaded one
    assert estimate_run_s(3, 0.1, 5.0) == 25.0 and estimate_run_s(6, 1.0, 5.0) == 35.0
    assert estimate_run_s(4, math.inf, 5.0) == 25.0


def _run(ttd, rate):
    return {"ttd_s": ttd, "tokens": [100] * len(ttd), "valid_each": [True] * len(ttd),
            "valid_answers_per_s": rate, "max_outstanding": 2}


def test_headlines_are_the_catalogs_and_name_the_load_they_were_measured_at():
    arms = {"one_by_one": (8.0, 0.1), "static_batch": (6.0, 0.12), "engine": (4.0, 0.2), "engine_pruned": (2.0, 0.3)}
    cells = [{"load_factor": f, "rate_per_s": f / 10, "streams": s, "requests": n} for f, s, n in CELLS]
    stats = [cell_stats({a: [_run([t, t + 1, t + 2], r) for _ in range(3)] for a, (t, r) in arms.items()})
             for _ in cells]
    h = headlines(cells + [{"load_factor": None, "rate_per_s": math.inf, "streams": 16, "requests": 16}],
                  stats + [stats[0]])
    assert list(h) == list(CATALOG["serve"].headlines)
    assert h["ttd_p95_ratio_one_by_one_over_engine_at_2x"]["value"] == pytest.approx(10 / 6, abs=1e-4)
    assert h["throughput_ratio_engine_pruned_vs_one_by_one_at_2x"]["value"] == pytest.approx(3.0)


def test_importing_the_benchmark_loads_no_torch():
    code = "import sys, benchmarks.serve, benchmarks.serve_poisson; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_arm_runs_first_in_some_repeat():
    from benchmarks.serve import ARMS, arm_order

    orders = [arm_order(r) for r in range(len(ARMS))]
    assert all(sorted(o) == sorted(ARMS) for o in orders) and {o[0] for o in orders} == set(ARMS)
    assert arm_order(0) == list(ARMS)


def test_cells_are_measured_most_loaded_then_lightest_then_the_rest():
    from benchmarks.serve import measure_order

    cells = [{"load_factor": f} for f in (0.5, 1.0, 2.0)] + [{"load_factor": None}]
    assert measure_order(cells) == [2, 0, 1, 3]
    assert measure_order([{"load_factor": 1.0}]) == [0]
