"""Serving benchmark: continuous-batching engine vs plain one-at-a-time generate().

Workload: N camera streams (N = 1, 4, 16) each send F key frames, closed loop
(a stream sends its next frame once the previous one is described), all
starting together. Frames come from the sample footage (bikes.mp4) with one
synthetic "person" box and a few hints, so prompting and visual guidance run
as in production.

Arms, measured in the same process on the same requests, interleaved (A B C D A B C D ...)
over >= 3 repeats per stream count; every arm decodes under the same JSON-schema grammar,
closing reserve and token budget (cloud/engine/baselines.py), so every arm's answers parse:
- one_by_one: one worker calls transformers `generate()` for one request at a time, FIFO;
- static_batch: the worker calls `generate()` on a left-padded batch of every request
  waiting when it frees up (up to 16); a batch runs until its slowest row ends;
- engine: `DescriptionEngine` (continuous batching, per-row grammar matchers, shared
  prompt prefix KV), without pruning, so its ratio isolates batching and scheduling;
- engine_pruned (--pruner METHOD:BUDGET): the engine with visual-token pruning.
Reported per arm and stream count: valid answers/s (parsed answers / makespan), tokens/s,
p95 time to description, parse failures; medians with 95% intervals. Top level:
`throughput_ratio_16` = engine / one_by_one valid answers/s at 16 streams (batching alone),
`throughput_ratio_16_pruned` = engine_pruned / one_by_one beside it.

Model: the SmolLM2-LLaVA benchmark model (real SmolLM2-135M weights, random
vision tower; cloud/models/smollm_llava.py) when it is available, else the tiny
random Qwen2.5-VL; the JSON names it. --quick uses the tiny model and few frames.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from benchmarks.provenance import Provenance, interleaved, ratio, summarize
from cloud.answer.constrained import AnswerError, grammar_for, parse_answer
from cloud.answer.prompting import build_prompt
from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig
from cloud.prune.config import PrunerConfig

RESULTS = Path(__file__).parent / "results" / "serve.json"
# A quick run must not overwrite the committed full result.
QUICK_RESULTS = Path("/tmp/vigil-serve-quick.json")
FLOOR_THROUGHPUT_RATIO_16 = 3.0
# Frames per stream: enough samples for a p95 at low stream counts, bounded total work.
FRAMES_PER_STREAM = {1: 2, 4: 1, 16: 1}
MAX_BATCH = 16      # rows the engine and the static batcher run at once
REPEATS = 3         # interleaved repeats per arm (the minimum for a median with an interval)
QUICK_REPEATS = 2


def load_frames(n: int) -> list[np.ndarray]:
    """`n` RGB frames: every 10th frame of bikes.mp4, starting over at the end of the clip."""
    from cloud.models.frames import sample_frames
    from vigil.footage import read_frames

    distinct = len(read_frames("bikes.mp4", step=10))
    frames = sample_frames("bikes.mp4", distinct, step=10)
    return [frames[i % distinct] for i in range(n)]


def make_requests(streams: int, per_stream: int, frames: list[np.ndarray], tag: str):
    out = []
    for s in range(streams):
        reqs = []
        for f in range(per_stream):
            img = frames[(s * per_stream + f) % len(frames)]
            h, w = img.shape[:2]
            reqs.append(DescribeRequest(
                request_id=f"{tag}-s{s}-f{f}", camera_id=f"cam{s}", event_id=f"ev{s}-{f}", images=[img],
                detections=[{"label": "person", "score": 0.8,
                             "box": [w * 0.4, h * 0.2, w * 0.6, h * 0.9]}],
                hints={"camera_name": f"street {s}", "zone": "road", "dwell_seconds": 3 + f},
                severity=0.5))
        out.append(reqs)
    return out


# -- baselines: plain generate(), one by one or statically batched -----------------------
class GenerateWorker:
    """One model worker running `generate()` (cloud/engine/baselines.py) on what is waiting.

    max_batch 1: one request at a time, FIFO; max_batch 16: static batching (every request
    waiting when the worker frees up, padded, until the slowest row finishes)."""

    def __init__(self, adapter, max_new_tokens: int, close_reserve: int, max_batch: int):
        from cloud.answer.constrained import grammar_for

        self.adapter = adapter
        self.grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
        self.max_new_tokens = max_new_tokens
        self.close_reserve = close_reserve
        self.max_batch = max_batch
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None

    def _run(self, reqs: list[DescribeRequest]):
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

    async def __call__(self, req: DescribeRequest):
        if self.task is None:
            self.queue = asyncio.Queue()
            self.task = asyncio.ensure_future(self._loop())
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((req, fut))
        return await fut

    async def close(self):
        if self.task is not None:
            self.task.cancel()


async def run_arm(describe, streams: list[list[DescribeRequest]]) -> dict:
    latencies, failures, tokens = [], 0, 0

    async def stream(reqs):
        nonlocal failures, tokens
        for req in reqs:
            t0 = time.perf_counter()
            try:
                text, n = await describe(req)
                tokens += n
                parse_answer(text)
            except (AnswerError, Exception) as exc:  # counted, not fatal
                failures += 1
                logging.getLogger("serve").warning("%s failed: %s", req.request_id, exc)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*[stream(r) for r in streams])
    makespan = time.perf_counter() - start
    n = sum(len(r) for r in streams)
    lat = sorted(latencies)
    return {
        "requests": n, "makespan_s": round(makespan, 3),
        "valid_answers_per_s": round((n - failures) / makespan, 4),
        "ttfd_p50_s": round(statistics.median(lat), 3),
        "ttfd_p95_s": round(lat[min(len(lat) - 1, int(np.ceil(0.95 * len(lat))) - 1)], 3),
        "generated_tokens": tokens, "tokens_per_s": round(tokens / makespan, 2),
        "parse_failures": failures,
    }


ARMS = ("one_by_one", "static_batch", "engine", "engine_pruned")


async def bench(args, prov: Provenance) -> dict:
    model = None if args.model == "tiny" else args.model
    base_cfg = dict(model=model, max_new_tokens=args.max_new_tokens, max_batch_size=MAX_BATCH,
                    max_queue=256, seed=0, torch_threads=args.threads)
    engine = DescriptionEngine.from_config(EngineConfig(**base_cfg)).start()
    await engine.ready()
    adapter = engine.adapter
    close_reserve = engine.config.close_reserve
    pruned_engine = None
    if args.pruner:
        method, _, budget = args.pruner.partition(":")
        layers = len(adapter.language_model.layers)  # the tiny model has 2: use its last
        pcfg = PrunerConfig(method=method, budget=int(budget) if budget else 64,
                            importance_layer=min(PrunerConfig().importance_layer, layers - 1))
        pruned_engine = DescriptionEngine(EngineConfig(**base_cfg, pruner=pcfg), adapter=adapter).start()
        await pruned_engine.ready()
    workers = {"one_by_one": GenerateWorker(adapter, args.max_new_tokens, close_reserve, 1),
               "static_batch": GenerateWorker(adapter, args.max_new_tokens, close_reserve, MAX_BATCH)}
    frames = load_frames(16)

    async def via_engine(eng, req):
        res = await eng.describe(req)
        return res.raw_text, res.generated_tokens

    describe = {"one_by_one": workers["one_by_one"], "static_batch": workers["static_batch"],
                "engine": lambda r: via_engine(engine, r)}
    if pruned_engine:
        describe["engine_pruned"] = lambda r: via_engine(pruned_engine, r)
    arms = [a for a in ARMS if a in describe]

    # warm-up: one request through each path (lazy inits, allocator, grammar compile)
    warm = make_requests(1, 1, frames, "warm")[0][0]
    for arm in arms:
        await describe[arm](warm)

    levels = {}
    for n in args.streams:
        per = args.frames_per_stream or FRAMES_PER_STREAM.get(n, 1)
        runs: dict[str, list[dict]] = {a: [] for a in arms}
        for rep, arm in interleaved(arms, args.repeats):
            res = await run_arm(describe[arm], make_requests(n, per, frames, f"{arm}{n}r{rep}"))
            runs[arm].append(res)
            print(f"  {n:2d} streams  repeat {rep}  {arm:<14}{res['valid_answers_per_s']:8.3f} valid/s "
                  f"{res['tokens_per_s']:7.1f} tok/s  fail {res['parse_failures']}", flush=True)
            if arm == arms[-1] and args.checkpoint:   # a round is complete: keep what we have
                partial = {**levels, str(n): level_row(n, per, runs, arms)}
                out = build_result(args, partial, arms, prov, rep + 1, complete=False)
                Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
        levels[str(n)] = level_row(n, per, runs, arms)
    await engine.close()
    if pruned_engine:
        await pruned_engine.close()
    for w in workers.values():
        await w.close()
    return build_result(args, levels, arms, prov, args.repeats, complete=True)


def level_row(n: int, per: int, runs: dict[str, list[dict]], arms: list[str]) -> dict:
    row = {"frames_per_stream": per, "requests": n * per}
    for arm in arms:
        row[arm] = {"valid_answers_per_s": summarize(r["valid_answers_per_s"] for r in runs[arm]),
                    "tokens_per_s": summarize(r["tokens_per_s"] for r in runs[arm]),
                    "ttfd_p95_s": summarize(r["ttfd_p95_s"] for r in runs[arm]),
                    "generated_tokens": summarize(r["generated_tokens"] for r in runs[arm]),
                    "parse_failures": sum(r["parse_failures"] for r in runs[arm]),
                    "runs": runs[arm]}
    for arm in arms[1:]:
        row[f"{arm}_vs_one_by_one"] = ratio([r["valid_answers_per_s"] for r in runs[arm]],
                                            [r["valid_answers_per_s"] for r in runs["one_by_one"]])
    if "engine" in runs:
        row["engine_vs_static_batch"] = ratio([r["valid_answers_per_s"] for r in runs["engine"]],
                                              [r["valid_answers_per_s"] for r in runs["static_batch"]])
    return row


def build_result(args, levels: dict, arms: list[str], prov: Provenance, repeats: int, complete: bool) -> dict:
    top = levels.get("16", levels[str(max(args.streams))])
    failures = {arm: sum(levels[k][arm]["parse_failures"] for k in levels) for arm in arms}
    result = {
        "benchmark": "serve",
        "model": args.model,
        "model_note": ("real SmolLM2-135M language weights + random vision tower (576 visual tokens)"
                       if args.model == "smollm_llava" else "tiny random Qwen2.5-VL (code paths only)"),
        "device": "cpu", "torch_threads": torch.get_num_threads(),
        "max_new_tokens": args.max_new_tokens,
        "close_reserve": "engine default (the schema's forced tail + slack) in every arm",
        "pruner": args.pruner,
        "quick": args.quick,
        "repeats": repeats,
        "complete": complete,
        "levels": levels,
        "throughput_ratio_16": top["engine_vs_one_by_one"]["ratio"],
        "throughput_ratio_16_ci95": top["engine_vs_one_by_one"]["ci95"],
        "throughput_ratio_16_pruned": (top["engine_pruned_vs_one_by_one"]["ratio"]
                                       if "engine_pruned_vs_one_by_one" in top else None),
        "throughput_ratio_16_pruned_ci95": (top["engine_pruned_vs_one_by_one"]["ci95"]
                                            if "engine_pruned_vs_one_by_one" in top else None),
        "throughput_ratio_16_vs_static_batch": top["engine_vs_static_batch"]["ratio"],
        "throughput_ratio_16_vs_static_batch_ci95": top["engine_vs_static_batch"]["ci95"],
        "parse_failures": failures,
        "floor_throughput_ratio_16": FLOOR_THROUGHPUT_RATIO_16,
        "floor_met": top["engine_vs_one_by_one"]["ratio"] >= FLOOR_THROUGHPUT_RATIO_16,
        "baselines": ["one_by_one", "static_batch"],
        "arms": {
            "one_by_one": "transformers model.generate(), greedy, one request at a time (FIFO), no pruning",
            "static_batch": f"transformers model.generate() on a left-padded batch of every waiting request "
                            f"(up to {MAX_BATCH}); the batch runs until its slowest row ends; no pruning",
            "engine": f"DescriptionEngine: continuous batching (max {MAX_BATCH} rows), shared-prompt prefix KV, "
                      "no pruning",
            "engine_pruned": f"engine + visual-token pruning {args.pruner}",
        },
        "matched": ("every arm decodes under the same JSON-schema grammar with the same closing reserve and "
                    f"the same {args.max_new_tokens}-token budget, greedy, and ends a row when its grammar "
                    "completes; valid_answers_per_s counts answers that parse into the alert schema"),
        "headline": ("throughput_ratio_16 = engine (batching alone) / one_by_one valid answers per second at 16 "
                     "streams; throughput_ratio_16_pruned = engine_pruned / one_by_one; ratios of medians over "
                     "interleaved repeats, 95% bootstrap intervals"),
        "note": ("CPU run on a 2-core machine shared with other engineers' work (load in provenance); every arm "
                 "of a repeat runs back to back (interleaved), so drift hits all alike. Prefill is compute-bound "
                 "here, so batching alone helps decode only; pruning removes most prefill work"),
    }
    result["provenance"] = prov.finish(repeats=repeats)
    return result


def print_summary(result: dict) -> None:
    for n, row in result["levels"].items():
        print(f"\n{n} streams x {row['frames_per_stream']} frames (median of {result['repeats']})")
        print(f"  {'arm':<14}{'valid/s':>9}{'tok/s':>8}{'p95 s':>8}{'fail':>6}")
        for arm in ARMS:
            if arm in row:
                r = row[arm]
                print(f"  {arm:<14}{r['valid_answers_per_s']['median']:>9.3f}{r['tokens_per_s']['median']:>8.1f}"
                      f"{r['ttfd_p95_s']['median']:>8.2f}{r['parse_failures']:>6}")


def smollm_available() -> bool:
    try:
        from cloud.models.smollm_llava import gguf_dir
        gguf_dir()
        return True
    except Exception:
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny model, few frames (CI / development)")
    p.add_argument("--model", default=None, help="smollm_llava | tiny (default: smollm_llava if installed)")
    p.add_argument("--streams", default="1,4,16")
    p.add_argument("--frames-per-stream", type=int, default=0, help="0: per-level default")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=REPEATS, help="interleaved repeats per arm and level")
    p.add_argument("--checkpoint", action="store_true",
                   help="write the JSON after every complete round (marked complete: false until the end)")
    p.add_argument("--pruner", default="id_selection:64", help="METHOD:BUDGET for the pruned arm, '' for none")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both arms (1: skinny GEMMs collapse with 2 contended threads)")
    p.add_argument("--out", default=None,
                   help=f"result JSON (default {RESULTS}; --quick writes {QUICK_RESULTS})")
    args = p.parse_args(argv)
    if args.model is None:
        args.model = "tiny" if args.quick or not smollm_available() else "smollm_llava"
    args.streams = [int(s) for s in args.streams.split(",") if s]
    args.out = args.out or str(QUICK_RESULTS if args.quick else RESULTS)
    if args.quick:
        args.streams = [s for s in args.streams if s <= 4] + ([16] if 16 in args.streams else [])
        args.frames_per_stream = args.frames_per_stream or 1
        args.repeats = min(args.repeats, QUICK_REPEATS)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    prov = Provenance(seeds={"engine": 0, "frames": 0})
    result = asyncio.run(bench(args, prov))
    print_summary(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nthroughput_ratio_16 = {result['throughput_ratio_16']:.3f} {result['throughput_ratio_16_ci95']} "
          f"(floor {FLOOR_THROUGHPUT_RATIO_16}: {'ok' if result['floor_met'] else 'MISSED'}); pruned "
          f"{result['throughput_ratio_16_pruned']}; parse failures {result['parse_failures']} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
