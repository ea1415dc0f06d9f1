"""Serving under Poisson arrivals: time to description per request, beside throughput.

benchmarks/serve.py sends every request at t=0 (closed loop), so continuous batching is never
exercised by arrivals and p50 = p95 = makespan. Here requests arrive as a Poisson process of
aggregate rate `rate` (requests/s), open loop (an arrival does not wait for earlier answers),
spread over S camera streams (S = 1, 4, 16: each arrival's camera is uniform over the S
streams, which is the superposition of S Poisson streams of rate/S; the engine's scheduler
shares slots per camera, so S matters). Answers vary in length: each event carries 1 to
MAX_KINDS kinds of object (labels and counts in the edge's detections and hints), and the
alert JSON lists each kind.

Arms, on the same arrival schedule within a repeat (paired), interleaved over repeats:
- one_by_one: transformers `generate()` one request at a time, FIFO (what a careful engineer
  deploys without a batching engine; serve.py's baseline);
- engine: `DescriptionEngine` (continuous batching), no pruning;
- engine_pruned: the engine with visual-token pruning at the SHIPPED settings
  (config/cloud.yaml engine.pruner on PrunerConfig defaults; the JSON records them).
Per arm, rate and stream count: time to description (arrival -> answer) p50 and p95, valid
answers/s over the run (first arrival to last answer), generated tokens per answer; medians
over repeats with 95% intervals; ratios of one_by_one's p95 to the engines' at the top rate.
Run: python -m benchmarks.serve_poisson [--rates 0.1,0.4 --streams 1,4,16 --requests 8];
writes benchmarks/results/serve_poisson.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "serve_poisson.json"
SHIPPED_CONFIG = ROOT / "config" / "cloud.yaml"
MAX_KINDS = 4                     # object kinds per event: 1..4 (answer length grows with each)
KINDS = ("person", "car", "bicycle", "dog")
ARMS = ("one_by_one", "engine", "engine_pruned")


@dataclass(frozen=True)
class Arrival:
    at_s: float      # offset from the start of the run
    stream: int      # camera index in [0, streams)
    kinds: int       # object kinds in the event, 1..MAX_KINDS


def poisson_schedule(rate: float, n: int, streams: int, seed: int) -> list[Arrival]:
    """`n` arrivals of a Poisson process of `rate`/s: exponential gaps, a uniform stream each,
    and 1..MAX_KINDS object kinds each (seeded: every arm of a repeat gets the same schedule)."""
    if rate <= 0 or streams < 1:
        raise ValueError(f"rate must be > 0 and streams >= 1 (got {rate}, {streams})")
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate)
        out.append(Arrival(round(t, 4), rng.randrange(streams), rng.randint(1, MAX_KINDS)))
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in (0, 1]): a value that was observed."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    rank = max(1, math.ceil(round(q * len(xs), 9)))   # rounded first: 0.95 * 20 must be 19, not 19.000...4
    return xs[min(len(xs), rank) - 1]


def run_stats(arrivals: list[float], done: list[float], ok: list[bool], tokens: list[int]) -> dict:
    """One run's numbers from per-request arrival and answer times (seconds from the run's start)."""
    ttd = [d - a for a, d in zip(arrivals, done)]
    span = max(done) - min(arrivals) if done else 0.0
    return {"requests": len(ttd), "valid": sum(ok), "ttd_p50_s": round(percentile(ttd, 0.5), 3),
            "ttd_p95_s": round(percentile(ttd, 0.95), 3), "ttd_max_s": round(max(ttd), 3),
            "valid_answers_per_s": round(sum(ok) / span, 4) if span > 0 else None,
            "offered_rate_per_s": round(len(ttd) / max(arrivals), 4) if max(arrivals) > 0 else None,
            "tokens_p50": statistics.median(tokens) if tokens else None,
            "tokens_min": min(tokens) if tokens else None, "tokens_max": max(tokens) if tokens else None}


def shipped_pruner():
    """The pruner the product ships: config/cloud.yaml's engine.pruner over PrunerConfig defaults."""
    import yaml

    from cloud.prune.config import PrunerConfig

    engine = (yaml.safe_load(SHIPPED_CONFIG.read_text()) or {}).get("engine") or {}
    return PrunerConfig(**(engine.get("pruner") or {}))


def make_request(arrival: Arrival, i: int, frames: list, tag: str):
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


async def run_open_loop(describe, schedule: list[Arrival], frames: list, tag: str) -> dict:
    """Send each request at its arrival time, without waiting for earlier answers."""
    from cloud.answer.constrained import parse_answer

    start = time.perf_counter()
    arrivals, done, ok, tokens = [], [], [], []

    async def one(i: int, a: Arrival):
        await asyncio.sleep(max(0.0, start + a.at_s - time.perf_counter()))
        t0 = time.perf_counter() - start
        good, n = False, 0
        try:
            text, n = await describe(make_request(a, i, frames, tag))
            parse_answer(text)
            good = True
        except Exception as exc:  # counted as an invalid answer, not fatal
            logging.getLogger("serve_poisson").warning("%s-%d failed: %s", tag, i, exc)
        arrivals.append(t0)
        done.append(time.perf_counter() - start)
        ok.append(good)
        tokens.append(n)

    await asyncio.gather(*(one(i, a) for i, a in enumerate(schedule)))
    return run_stats(arrivals, done, ok, tokens)


async def bench(args, prov) -> dict:
    import torch

    from benchmarks.provenance import interleaved, ratio, summarize
    from benchmarks.serve import MAX_BATCH, GenerateWorker, load_frames
    from cloud.engine import DescriptionEngine, EngineConfig

    torch.set_num_threads(args.threads)
    base = dict(model=args.model, max_new_tokens=args.max_new_tokens, max_batch_size=MAX_BATCH, max_queue=256,
                seed=0, torch_threads=args.threads)
    engine = DescriptionEngine.from_config(EngineConfig(**base)).start()
    await engine.ready()
    pcfg = shipped_pruner()
    pruned = DescriptionEngine(EngineConfig(**base, pruner=pcfg), adapter=engine.adapter).start()
    await pruned.ready()
    worker = GenerateWorker(engine.adapter, args.max_new_tokens, engine.config.close_reserve, 1)
    frames = load_frames(16)

    async def via(eng, req):
        res = await eng.describe(req)
        return res.raw_text, res.generated_tokens

    describe = {"one_by_one": worker, "engine": lambda r: via(engine, r), "engine_pruned": lambda r: via(pruned, r)}
    for arm in ARMS:   # warm-up: lazy inits, grammar compile
        await run_open_loop(describe[arm], [Arrival(0.0, 0, 2)], frames, f"warm-{arm}")

    cells = {}
    # The headline cell (top rate, most streams) first; after each cell the JSON is written
    # (complete: false), so a run cut short still leaves what it measured.
    for rate in sorted(args.rates, reverse=True):
        for s in sorted(args.streams, reverse=True):
            runs: dict[str, list[dict]] = {a: [] for a in ARMS}
            for rep, arm in interleaved(list(ARMS), args.repeats):
                sched = poisson_schedule(rate, args.requests, s, seed=1000 * rep + s)
                res = await run_open_loop(describe[arm], sched, frames, f"{arm}-{rate}-{s}-{rep}")
                runs[arm].append(res)
                print(f"rate {rate}/s {s:2d} streams rep {rep} {arm:<14} p50 {res['ttd_p50_s']:7.2f}s "
                      f"p95 {res['ttd_p95_s']:7.2f}s {res['valid_answers_per_s']} valid/s", flush=True)
            cell = {arm: {"ttd_p50_s": summarize(r["ttd_p50_s"] for r in runs[arm]),
                          "ttd_p95_s": summarize(r["ttd_p95_s"] for r in runs[arm]),
                          "valid_answers_per_s": summarize(r["valid_answers_per_s"] or 0.0 for r in runs[arm]),
                          "runs": runs[arm]} for arm in ARMS}
            for arm in ARMS[1:]:
                cell[f"p95_one_by_one_over_{arm}"] = ratio([r["ttd_p95_s"] for r in runs["one_by_one"]],
                                                           [r["ttd_p95_s"] for r in runs[arm]])
            cells[f"{rate:g}/{s}"] = cell
            write(args, cells, pcfg.model_dump(), prov, complete=False)
    await engine.close()
    await pruned.close()
    await worker.close()
    write(args, cells, pcfg.model_dump(), prov, complete=True)
    return cells


def headline(cells: dict, rates: list[float], streams: list[int]) -> dict:
    """The top rate at the most streams: each arm's p95 and throughput, and one_by_one's p95 over the engines'."""
    key = f"{max(rates):g}/{max(streams)}"
    c = cells[key]
    out = {"headline_cell": {"rate_per_s": max(rates), "streams": max(streams)}}
    for arm in ARMS:
        out[f"poisson_p95_ttd_s_{arm}"] = {"value": c[arm]["ttd_p95_s"]["median"], "ci95": c[arm]["ttd_p95_s"]["ci95"]}
        out[f"poisson_valid_answers_per_s_{arm}"] = {"value": c[arm]["valid_answers_per_s"]["median"],
                                                     "ci95": c[arm]["valid_answers_per_s"]["ci95"]}
    for arm in ARMS[1:]:
        r = c[f"p95_one_by_one_over_{arm}"]
        out[f"poisson_p95_ratio_one_by_one_over_{arm}"] = {"value": r["ratio"], "ci95": r["ci95"]}
    return out


def write(args, cells: dict, pruner: dict, prov, complete: bool) -> dict:
    top = f"{max(args.rates):g}/{max(args.streams)}"
    result = {"benchmark": "serve_poisson", "model": args.model_name, "device": "cpu", "rates_per_s": args.rates,
              "streams": args.streams, "requests_per_run": args.requests, "max_new_tokens": args.max_new_tokens,
              "complete": complete, "arms": list(ARMS), "pruner_shipped": pruner,
              **(headline(cells, args.rates, args.streams) if top in cells else {}),
              "cells": cells,
              "definitions": {"ttd": "time to description: the request's arrival to its parsed answer",
                              "valid_answers_per_s": "parsed answers / (last answer - first arrival)",
                              "cells": "'<rate>/<streams>': aggregate Poisson rate (requests/s) and camera streams"},
              "provenance": prov.finish(repeats=args.repeats)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv=None) -> int:
    from benchmarks.provenance import Provenance
    from benchmarks.serve import smollm_available

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[0.1, 0.4],
                   help="aggregate arrival rates, requests/s")
    p.add_argument("--streams", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16])
    p.add_argument("--requests", type=int, default=8, help="arrivals per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", default=None, help="smollm_llava | tiny (default: smollm_llava if installed)")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    a.model_name = a.model or ("smollm_llava" if smollm_available() else "tiny")
    a.model = None if a.model_name == "tiny" else a.model_name
    logging.basicConfig(level=logging.WARNING)
    prov = Provenance(seeds={"arrivals": 0, "engine": 0})
    cells = asyncio.run(bench(a, prov))
    print(json.dumps(headline(cells, a.rates, a.streams), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
