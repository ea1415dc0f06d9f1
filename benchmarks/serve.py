"""Serving benchmark: the continuous-batching engine against plain `generate()`, under Poisson arrivals.

Workload (benchmarks/serve_poisson.py): events arrive as a Poisson process, open loop, from
1, 4 or 16 camera streams, at rates set as multiples of the one-by-one baseline's capacity
measured at the start of the run (so the grid spans light load to past that capacity on the
machine that runs it). Each event is a frame of the sample footage (bikes.mp4) with the
edge's boxes and count hints for 1-4 kinds of object; the model answers the alert schema
(summary, threat level, objects, action, narrative) under its grammar, so answers vary in
length with the event. The product's own budget (EngineConfig.max_new_tokens) applies.

Arms, on the same arrival schedule within a repeat (paired), back to back in an order rotated each
repeat, >= 3 repeats of a cell before the next cell (the most loaded first, then the lightest:
`--stop-at` cuts a late run between repeats and the JSON says complete: false); every arm decodes under the engine's own grammar object and closing reserve, greedy, so a valid
answer means the same thing in every arm:
- one_by_one: one worker calls transformers `generate()` on one request at a time, FIFO
  (cloud/engine/baselines.py): what a careful engineer deploys without a batching engine;
- static_batch: the worker calls `generate()` on a left-padded batch of every request waiting
  when it frees up (up to 16); the batch runs until its slowest row ends;
- engine: `DescriptionEngine` (continuous batching, shared prompt-prefix KV), no pruning, so
  its ratios isolate batching and scheduling;
- engine_pruned: the engine as shipped: visual-token pruning at config/cloud.yaml's
  engine.pruner over PrunerConfig's defaults (the JSON records every setting).
Per cell and arm: time to description (scheduled arrival -> parsed answer) p50 and p95 over the
requests of all repeats, valid answers/s per repeat; against one_by_one (and engine against
static_batch): paired p50/p95 ratios, mean difference and throughput ratio, bootstrap intervals.
`--burst N` adds the closed-loop level of earlier runs (N requests at t=0) as context.

Model: the SmolLM2-LLaVA benchmark model (real SmolLM2-135M weights, random vision tower;
cloud/models/smollm_llava.py) when it is available, else the tiny random Qwen2.5-VL (code
paths only); the JSON names it. --quick: the tiny model, a few requests, for development.
Run: python -m benchmarks.serve  (writes benchmarks/results/serve.json)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.serve_poisson import (KINDS, MAX_KINDS, Arrival, cell_stats, poisson_schedule, rates_for,
                                      run_open_loop, run_stats)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "serve.json"
QUICK_RESULTS = Path("/tmp/vigil-serve-quick.json")   # a quick run must not overwrite the committed result
SHIPPED_CONFIG = ROOT / "config" / "cloud.yaml"
ARMS = ("one_by_one", "static_batch", "engine", "engine_pruned")
MAX_BATCH = 16      # rows the engine and the static batcher run at once
REPEATS = 3         # interleaved repeats (the minimum for a median with an interval)
# The grid: (load factor x one-by-one capacity, streams, requests per run). Stream count and load rise
# together, as a site's cameras do; 2x is past one-by-one's capacity (its queue grows for the whole run).
# Few requests per run: at 1 torch thread on a 2-core machine shared with other work, one-by-one takes
# 10-20 s an answer, and the grid (~44 one-by-one service times a repeat) must fit ~40 min.
CELLS = ((0.5, 1, 2), (1.0, 4, 3), (2.0, 16, 5))
CALIBRATION_KINDS = (1, 4)      # one-by-one requests timed before the grid (a short and a long answer)
BUDGET_S = 2400                 # the grid's wall-time budget; requests per run shrink to fit (never below 2)
# `estimate_run_s` bounds every arm by one-by-one's busy time; the batching arms take about half of it
# past capacity (dry runs), so the grid takes about 1/1.4 of the bound: fit the bound to 1.4 budgets.
BOUND_OVER_EXPECTED = 1.4
MIN_REQUESTS = 2


def load_frames(n: int) -> list:
    """`n` RGB frames: every 10th frame of bikes.mp4, starting over at the end of the clip."""
    from cloud.models.frames import sample_frames
    from vigil.footage import read_frames

    distinct = len(read_frames("bikes.mp4", step=10))
    frames = sample_frames("bikes.mp4", distinct, step=10)
    return [frames[i % distinct] for i in range(n)]


def make_request(arrival: Arrival, i: int, frames: list, tag: str):
    """Event `i` of a run: a footage frame, `arrival.kinds` kinds of object (boxes + count hints)."""
    from cloud.engine import DescribeRequest

    img = frames[i % len(frames)]
    h, w = img.shape[:2]
    dets, counts = [], {}
    for k in range(arrival.kinds):
        n = 1 + (i + k) % 3
        counts[KINDS[k]] = n
        for j in range(n):   # boxes side by side across the lower half of the frame
            x = w * (0.05 + 0.9 * (k * 3 + j) / (MAX_KINDS * 3))
            dets.append({"label": KINDS[k], "score": 0.8, "box": [x, h * 0.4, x + w * 0.07, h * 0.9]})
    return DescribeRequest(request_id=f"{tag}-{i}", camera_id=f"cam{arrival.stream}", event_id=f"{tag}-ev{i}",
                           images=[img], detections=dets,
                           hints={"camera_name": f"street {arrival.stream}", "zone": "road", "counts": counts,
                                  "dwell_seconds": 3 + i % 5}, severity=0.5)


def shipped_pruner():
    """The pruner the product ships: config/cloud.yaml's engine.pruner over PrunerConfig defaults."""
    import yaml

    from cloud.prune.config import PrunerConfig

    engine = (yaml.safe_load(SHIPPED_CONFIG.read_text()) or {}).get("engine") or {}
    return PrunerConfig(**(engine.get("pruner") or {}))


# -- baselines: plain generate(), one by one or statically batched -----------------------
class GenerateWorker:
    """One model worker running `generate()` (cloud/engine/baselines.py) on what is waiting.

    max_batch 1: one request at a time, FIFO; max_batch 16: static batching (every request
    waiting when the worker frees up, padded, until the slowest row finishes). `grammar` is the
    engine's own, so both decode under the same constraint."""

    def __init__(self, adapter, grammar, max_new_tokens: int, close_reserve: int, max_batch: int):
        self.adapter = adapter
        self.grammar = grammar
        self.max_new_tokens = max_new_tokens
        self.close_reserve = close_reserve
        self.max_batch = max_batch
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None

    def _run(self, reqs: list):
        from cloud.answer.prompting import build_prompt
        from cloud.engine.baselines import generate_batch

        prepared = []
        for req in reqs:
            guided = build_prompt(req)
            prepared.append(self.adapter.prepare(guided.images, guided.user, guided.system))
        return generate_batch(self.adapter, self.grammar, prepared, self.max_new_tokens, self.close_reserve)

    async def _loop(self):
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                outs = await loop.run_in_executor(None, self._run, [r for r, _ in batch])
                for (_, fut), out in zip(batch, outs):
                    fut.set_result((out.text, out.tokens))
            except Exception as exc:  # surfaced per request
                for _, fut in batch:
                    fut.set_exception(exc)

    async def __call__(self, req):
        if self.task is None:
            self.queue = asyncio.Queue()
            self.task = asyncio.ensure_future(self._loop())
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((req, fut))
        return await fut

    async def close(self):
        if self.task is not None:
            self.task.cancel()


# -- the run -------------------------------------------------------------------------------
async def build_arms(args):
    """The four arms over ONE loaded model: (describe by arm, pruner config, engine facts, closers)."""
    import torch

    from cloud.engine import DescriptionEngine, EngineConfig

    torch.set_num_threads(args.threads)
    base = dict(model=args.model, max_batch_size=MAX_BATCH, max_queue=256, seed=0, torch_threads=args.threads,
                **({"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}))
    engine = DescriptionEngine.from_config(EngineConfig(**base)).start()
    await engine.ready()
    adapter, cfg = engine.adapter, engine.config
    pcfg = shipped_pruner()
    layers = len(adapter.language_model.layers)
    if pcfg.importance_layer >= layers:   # only the 2-layer tiny model of --quick: its last layer
        pcfg = pcfg.model_copy(update={"importance_layer": layers - 1})
    pruned = DescriptionEngine(EngineConfig(**base, pruner=pcfg), adapter=adapter).start()
    await pruned.ready()
    grammar = engine.runner.grammar   # the engine's own grammar object: every arm decodes under it
    workers = {"one_by_one": GenerateWorker(adapter, grammar, cfg.max_new_tokens, cfg.close_reserve, 1),
               "static_batch": GenerateWorker(adapter, grammar, cfg.max_new_tokens, cfg.close_reserve, MAX_BATCH)}

    async def via(eng, req):
        res = await eng.describe(req)
        return res.raw_text, res.generated_tokens

    describe = {**workers, "engine": lambda r: via(engine, r), "engine_pruned": lambda r: via(pruned, r)}
    closers = [engine.close, pruned.close, *(w.close for w in workers.values())]
    facts = {"max_new_tokens": cfg.max_new_tokens, "close_reserve": cfg.close_reserve,
             "writes_narrative": engine.writes_narrative}
    return describe, pcfg, facts, closers


def measure_order(cells: list[dict]) -> list[int]:
    """Cells in the order they are measured: the most loaded, then the lightest, then the rest, so a
    run cut short still spans light load to past one-by-one's capacity. All repeats of a cell run
    before the next cell (a finished cell has all its repeats)."""
    poisson = sorted((i for i, c in enumerate(cells) if c["load_factor"] is not None),
                     key=lambda i: cells[i]["load_factor"])
    first = [poisson[-1], poisson[0]] if len(poisson) > 1 else poisson
    return first + [i for i in poisson[1:-1]] + [i for i, c in enumerate(cells) if c["load_factor"] is None]


def arm_order(rep: int) -> list[str]:
    """The arms in the order repeat `rep` runs them: rotated each repeat, so no arm always runs first
    after the others (machine load drifts at the scale of a cell)."""
    k = rep % len(ARMS)
    return list(ARMS[k:] + ARMS[:k])


def estimate_run_s(n: int, rate: float, service_s: float) -> float:
    """Upper bound of one run's wall time: the arrival window or one-by-one's busy time, plus one answer."""
    window = 0.0 if math.isinf(rate) else (n - 1) / rate
    return max(window, n * service_s) + service_s


async def bench(args, prov) -> dict:
    describe, pcfg, efacts, closers = await build_arms(args)
    frames = load_frames(16)
    # Warm-up (lazy inits, allocator, prefix cache): generate() once (static_batch runs the same code
    # on the same model), the two engines together (their timing is not measured).
    await run_open_loop(describe["one_by_one"], [Arrival(0.0, 0, 2)], lambda a, i: make_request(a, i, frames, "warm"))
    await asyncio.gather(*(run_open_loop(describe[arm], [Arrival(0.0, 0, 2)],
                                         lambda a, i, arm=arm: make_request(a, i, frames, f"warm-{arm}"))
                           for arm in ("engine", "engine_pruned")))
    t0 = time.perf_counter()
    calib = await run_open_loop(describe["one_by_one"], [Arrival(0.0, 0, k) for k in CALIBRATION_KINDS],
                                lambda a, i: make_request(a, 100 + i, frames, "calib"))
    # Sent together, answered one at a time: the last answer time / n is the mean service time.
    service_s = max(o.done_s for o in calib) / len(calib)
    rates = rates_for([c[0] for c in args.cells], service_s)
    cells = [{"load_factor": f, "rate_per_s": r, "streams": s, "requests": n}
             for (f, s, n), r in zip(args.cells, rates)]
    if args.burst:
        cells.append({"load_factor": None, "rate_per_s": math.inf, "streams": args.burst, "requests": args.burst})
    est = args.repeats * len(ARMS) * sum(estimate_run_s(c["requests"], c["rate_per_s"], service_s) for c in cells)
    if est > args.budget_s * BOUND_OVER_EXPECTED:   # shrink every cell's requests alike to fit the budget
        scale = args.budget_s * BOUND_OVER_EXPECTED / est
        for c in cells:
            c["requests"] = max(MIN_REQUESTS, round(c["requests"] * scale))
        est = args.repeats * len(ARMS) * sum(estimate_run_s(c["requests"], c["rate_per_s"], service_s) for c in cells)
    print(f"one-by-one service {service_s:.1f} s (capacity {1 / service_s:.3f}/s); cells "
          f"{[(c['load_factor'], c['streams'], c['requests'], round(c['rate_per_s'], 4)) for c in cells]}; "
          f"estimated grid ~{est / BOUND_OVER_EXPECTED / 60:.0f} min (bound {est / 60:.0f})", flush=True)
    calibration = {"one_by_one_service_s": round(service_s, 3), "requests": len(calib),
                   "kinds": list(CALIBRATION_KINDS), "tokens": [o.tokens for o in calib],
                   "estimated_grid_s_upper": round(est), "calibration_s": round(time.perf_counter() - t0, 1)}

    runs = [{arm: [] for arm in ARMS} for _ in cells]
    result, stopped = None, False
    for ci in measure_order(cells):
        cell = cells[ci]
        for rep in range(args.repeats):
            if args.stop_at and time.time() > args.stop_at:
                stopped = True
                break
            sched = poisson_schedule(cell["rate_per_s"], cell["requests"], cell["streams"], seed=1000 * rep + ci)
            for arm in arm_order(rep):
                tag = f"{arm}-c{ci}-r{rep}"
                load = os.getloadavg()[0]
                outs = await run_open_loop(describe[arm], sched, lambda a, i, tag=tag: make_request(a, i, frames, tag))
                st = {**run_stats(outs), "load_1m_before": round(load, 2)}
                runs[ci][arm].append(st)
                name = "burst" if cell["load_factor"] is None else f"{cell['load_factor']:g}x"
                print(f"cell {ci} ({name}, {cell['streams']:2d} streams) rep {rep} {arm:<14} "
                      f"p50 {st['ttd_p50_s']:6.1f}s p95 {st['ttd_p95_s']:6.1f}s {st['valid_answers_per_s']} valid/s "
                      f"valid {st['valid']}/{st['requests']} tokens {min(st['tokens'])}-{max(st['tokens'])}", flush=True)
            done = all(len(r["one_by_one"]) == args.repeats for r in runs)
            result = build_result(args, cells, runs, pcfg, efacts, calibration, prov, complete=done)
            write(args.out, result)   # after every repeat of a cell: a run cut short keeps what it measured
        if stopped:
            print("--stop-at passed: stopping (complete: false)", flush=True)
            break
    for close in closers:
        await close()
    return result


def headlines(cells: list[dict], stats: list[dict]) -> dict:
    """The most loaded Poisson cell's paired comparisons, and the pruned arm's latency at the lightest.
    Keys name the load they were measured at (an input), never the input as a result."""
    poisson = [i for i, c in enumerate(cells) if c["load_factor"] is not None]
    if not poisson:
        return {}
    top = max(poisson, key=lambda i: cells[i]["load_factor"])
    low = min(poisson, key=lambda i: cells[i]["load_factor"])
    t, lo = stats[top], stats[low]
    tag = f"{cells[top]['load_factor']:g}x"
    pairs = [(arm, base) for arm, base in (("engine", "one_by_one"), ("engine_pruned", "one_by_one"),
                                           ("engine", "static_batch")) if f"{arm}_vs_{base}" in t]
    out = {f"ttd_p95_ratio_{base}_over_{arm}_at_{tag}": t[f"{arm}_vs_{base}"]["ttd_p95_ratio"] for arm, base in pairs}
    if "engine_pruned" in t:
        out[f"ttd_p95_s_engine_pruned_at_{tag}"] = t["engine_pruned"]["ttd_p95_s"]
    out.update({f"throughput_ratio_{arm}_vs_{base}_at_{tag}": t[f"{arm}_vs_{base}"]["throughput_ratio"]
                for arm, base in pairs})
    pair = lo.get("engine_pruned_vs_one_by_one")
    if pair:
        out[f"ttd_p50_ratio_one_by_one_over_engine_pruned_at_{cells[low]['load_factor']:g}x"] = pair["ttd_p50_ratio"]
    return out


def build_result(args, cells, runs, pcfg, efacts, calibration, prov, complete) -> dict:
    measured = [i for i, r in enumerate(runs) if r["one_by_one"]]
    cells, runs = [cells[i] for i in measured], [runs[i] for i in measured]
    stats = [cell_stats({arm: rs for arm, rs in r.items() if rs}) for r in runs]
    repeats = min(min(len(rs) for rs in r.values() if rs) for r in runs)
    keyed = {}
    for c, s, r in zip(cells, stats, runs):
        name = "burst" if c["load_factor"] is None else f"{c['load_factor']:g}x/{c['streams']}"
        keyed[name] = {**{k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in c.items()},
                       "repeats": min(len(rs) for rs in r.values() if rs), **s}
    heads = headlines(cells, stats)
    tokens = [t for r in runs for arm in r.values() for run in arm for t in run["tokens"]]
    failures = {arm: sum(run["requests"] - run["valid"] for r in runs for run in r[arm]) for arm in ARMS}
    result = {
        "benchmark": "serve",
        "workload": "poisson",
        "model": args.model_name,
        "model_note": ("real SmolLM2-135M language weights + random vision tower (576 visual tokens)"
                       if args.model_name == "smollm_llava" else "tiny random Qwen2.5-VL (code paths only)"),
        "device": "cpu", "torch_threads": args.threads, "max_new_tokens": efacts["max_new_tokens"],
        "writes_narrative": efacts["writes_narrative"],
        "quick": args.quick, "repeats": repeats, "complete": complete,
        "headline_keys": list(heads), **heads,
        "answer_tokens": {"min": min(tokens), "p50": statistics.median(tokens), "max": max(tokens)} if tokens else None,
        "invalid_answers": failures,
        "calibration": calibration,
        "cells": keyed,
        "pruner_shipped": pcfg.model_dump(),
        "baselines": ["one_by_one", "static_batch"],
        "arms": {
            "one_by_one": "transformers model.generate(), greedy, one request at a time (FIFO), no pruning",
            "static_batch": f"transformers model.generate() on a left-padded batch of every waiting request "
                            f"(up to {MAX_BATCH}); the batch runs until its slowest row ends; no pruning",
            "engine": f"DescriptionEngine: continuous batching (max {MAX_BATCH} rows), shared-prompt prefix KV, "
                      "no pruning",
            "engine_pruned": "the engine as shipped: + visual-token pruning at config/cloud.yaml's settings "
                             "(pruner_shipped)",
        },
        "matched": ("every arm decodes under the engine's own grammar object (the alert schema, narrative "
                    "included where the model writes one) with the same closing reserve and token budget, "
                    "greedy; a row ends when its grammar completes; an answer counts as valid when it parses "
                    "into the alert schema, and only valid answers count in valid_answers_per_s"),
        "definitions": {
            "cells": "'<load>x/<streams>': arrival rate = load x one-by-one capacity (1 / its mean service time "
                     "measured before the grid, `calibration`), spread over <streams> camera streams",
            "ttd": "time to description: a request's scheduled arrival to its answer",
            "ttd_p50_s/ttd_p95_s": "nearest-rank percentiles over the requests of every repeat; 95% interval "
                                   "by bootstrap over requests",
            "valid_answers_per_s": "valid answers / (last answer - first arrival) per run; median over repeats",
            "<arm>_vs_<base>": "paired over the same requests (same schedule in a repeat): ttd_p50/p95_ratio = "
                               "base's percentile / arm's (above 1: the arm answers sooner; bootstrap resamples "
                               "request pairs), ttd_mean_diff_s = arm - base, throughput_ratio = median of "
                               "per-repeat arm / base valid answers/s; verdict win only when the interval "
                               "excludes no-difference, from the arm's side",
            "max_outstanding": "most requests arrived and not yet answered at once; the engine's per-camera "
                               f"share ranks waiting requests only when more than {MAX_BATCH} contend, so "
                               "below that the stream count changes which camera an event comes from, "
                               "not how it is scheduled",
            "burst": "closed-loop context: every request at t=0 (only when run with --burst)",
        },
        "note": ("CPU run at 1 torch thread on a 2-core machine shared with other engineers' work (load in "
                 "provenance, and each run's 1-minute load in its record); the arms of a cell run back to back on "
                 "one schedule, in an order rotated each repeat, cells and repeats interleaved, so drift hits every "
                 "arm alike. A run is finite: past one-by-one's capacity its "
                 "queue grows for the whole run, so its p95 there grows with the requests per run. Pruning changes the "
                 "model's input and so its answers (and their lengths: `tokens` per arm); every arm's answers are "
                 "counted only when valid"),
    }
    result["provenance"] = prov.finish(repeats=repeats)
    return result


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


def smollm_available() -> bool:
    try:
        from cloud.models.smollm_llava import gguf_dir
        gguf_dir()
        return True
    except Exception:
        return False


def parse_cells(text: str) -> tuple[tuple[float, int, int], ...]:
    """'0.5:1:3,1:4:4' -> ((0.5, 1, 3), (1.0, 4, 4)): load factor, streams, requests per run."""
    out = []
    for part in text.split(","):
        f, s, n = part.split(":")
        out.append((float(f), int(s), int(n)))
    return tuple(out)


def main(argv=None) -> int:
    from benchmarks.provenance import Provenance

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny model, few requests (development)")
    p.add_argument("--model", default=None, help="smollm_llava | tiny (default: smollm_llava if installed)")
    p.add_argument("--cells", type=parse_cells, default=CELLS,
                   help="LOAD:STREAMS:REQUESTS,... (load = multiple of one-by-one's capacity)")
    p.add_argument("--burst", type=int, default=0, help="also N requests at t=0 (closed-loop context); 0: none")
    p.add_argument("--repeats", type=int, default=REPEATS)
    p.add_argument("--budget-s", type=float, default=BUDGET_S, help="wall-time budget of the grid")
    p.add_argument("--stop-at", type=float, default=None,
                   help="unix time after which no further repeat starts (the JSON says complete: false)")
    p.add_argument("--max-new-tokens", type=int, default=0, help="0: the engine's default budget")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: skinny GEMMs collapse with 2 contended threads)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"result JSON (default {RESULTS}; --quick writes {QUICK_RESULTS})")
    a = p.parse_args(argv)
    a.model_name = a.model or ("tiny" if a.quick or not smollm_available() else "smollm_llava")
    a.model = None if a.model_name == "tiny" else a.model_name
    a.out = a.out or (QUICK_RESULTS if a.quick else RESULTS)
    if a.quick:
        a.cells = tuple((f, s, min(n, 3)) for f, s, n in a.cells)
    logging.basicConfig(level=logging.WARNING)
    # arrival schedule of (repeat r, cell c): seed 1000 * r + c; bootstrap seeds in benchmarks/serve_poisson.py
    prov = Provenance(seeds={"arrivals": 0, "engine": 0, "bootstrap": 0})
    result = asyncio.run(bench(a, prov))
    if result is None:
        print("nothing measured before --stop-at")
        return 1
    print(json.dumps({k: result[k] for k in result["headline_keys"]}, indent=1))
    print(f"-> {a.out} (complete: {result['complete']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
