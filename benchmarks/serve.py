"""Serving benchmark: continuous-batching engine vs plain one-at-a-time generate().

Workload: N camera streams (N = 1, 4, 16) each send F key frames, closed loop
(a stream sends its next frame once the previous one is described), all
starting together. Frames come from the sample footage (bikes.mp4) with one
synthetic "person" box and a few hints, so prompting and visual guidance run
as in production.

Arms, measured in the same process on the same requests:
- baseline: a single worker calls `model.generate()` (transformers, greedy,
  xgrammar's HF logits processor for the same JSON schema) for one request at a
  time, FIFO - what a plain service does;
- engine: `DescriptionEngine` (continuous batching, per-row grammar matchers),
  without pruning, so the ratio isolates batching and scheduling;
- engine_pruned (optional, --pruner METHOD:BUDGET): the engine with visual-token
  pruning (ID-Selection by default), i.e. the whole cloud path.
Reported per arm and stream count: frames/s (requests / makespan), p50/p95 time
to first description (submit -> described), parse failures. Top level:
`throughput_ratio_16` = engine frames/s / baseline frames/s at 16 streams (same run).

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
import platform
import statistics
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from cloud.constrained import AnswerError, grammar_for, parse_answer
from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig
from cloud.prompting import build_prompt
from cloud.prune.config import PrunerConfig

RESULTS = Path(__file__).parent / "results" / "serve.json"
# A quick run must not overwrite the committed full result.
QUICK_RESULTS = Path("/tmp/vigil-serve-quick.json")
FLOOR_THROUGHPUT_RATIO_16 = 3.0
# Frames per stream: enough samples for a p95 at low stream counts, bounded total work.
FRAMES_PER_STREAM = {1: 4, 4: 2, 16: 1}


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


# -- baseline: plain generate(), one request at a time ------------------------------------
class PlainGenerate:
    def __init__(self, adapter, max_new_tokens: int):
        from xgrammar.contrib.hf import LogitsProcessor

        self.adapter = adapter
        self.max_new_tokens = max_new_tokens
        self.grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
        self.processor_cls = LogitsProcessor
        self.lock = threading.Lock()

    def __call__(self, req: DescribeRequest) -> tuple[str, int]:
        a = self.adapter
        guided = build_prompt(req)
        prepared = a.prepare(guided.images, guided.user, guided.system)
        ids = prepared.input_ids[None]
        extra = dict(prepared.model_inputs)
        if a.family.startswith("qwen"):
            extra["mm_token_type_ids"] = (ids == a.image_token_id).int()
        with self.lock, torch.inference_mode():
            out = a.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), **extra,
                max_new_tokens=self.max_new_tokens, do_sample=False,
                eos_token_id=a.stop_token_ids, pad_token_id=a.stop_token_ids[0],
                logits_processor=[self.processor_cls(self.grammar.compiled)])
        new = out[0, ids.shape[1]:].tolist()
        text = a.tokenizer.decode(new, skip_special_tokens=True)
        return text, len(new)


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
        "frames_per_s": round(n / makespan, 4),
        "ttfd_p50_s": round(statistics.median(lat), 3),
        "ttfd_p95_s": round(lat[min(len(lat) - 1, int(np.ceil(0.95 * len(lat))) - 1)], 3),
        "generated_tokens": tokens, "tokens_per_s": round(tokens / makespan, 2),
        "parse_failures": failures,
    }


async def bench(args) -> dict:
    model = None if args.model == "tiny" else args.model
    base_cfg = dict(model=model, max_new_tokens=args.max_new_tokens, max_batch_size=16,
                    max_queue=256, seed=0, torch_threads=args.threads)
    engine = DescriptionEngine.from_config(EngineConfig(**base_cfg)).start()
    await engine.ready()
    adapter = engine.adapter
    pruned_engine = None
    if args.pruner:
        method, _, budget = args.pruner.partition(":")
        layers = len(adapter.language_model.layers)  # the tiny model has 2: use its last
        pcfg = PrunerConfig(method=method, budget=int(budget) if budget else 64,
                            importance_layer=min(PrunerConfig().importance_layer, layers - 1))
        pruned_engine = DescriptionEngine(EngineConfig(**base_cfg, pruner=pcfg), adapter=adapter).start()
        await pruned_engine.ready()
    plain = PlainGenerate(adapter, args.max_new_tokens)
    loop = asyncio.get_running_loop()
    frames = load_frames(16)

    async def via_engine(eng, req):
        res = await eng.describe(req)
        return res.raw_text, res.generated_tokens

    async def via_plain(req):
        return await loop.run_in_executor(None, plain, req)

    # warm-up: one request through each path (lazy inits, allocator)
    warm = make_requests(1, 1, frames, "warm")[0][0]
    await via_plain(warm)
    await via_engine(engine, warm)
    if pruned_engine:
        await via_engine(pruned_engine, warm)

    levels = {}
    for n in args.streams:
        per = args.frames_per_stream or FRAMES_PER_STREAM.get(n, 1)
        row = {"frames_per_stream": per}
        row["baseline"] = await run_arm(via_plain, make_requests(n, per, frames, f"b{n}"))
        row["engine"] = await run_arm(lambda r: via_engine(engine, r), make_requests(n, per, frames, f"e{n}"))
        if pruned_engine:
            row["engine_pruned"] = await run_arm(lambda r: via_engine(pruned_engine, r),
                                                 make_requests(n, per, frames, f"p{n}"))
        for arm in ("engine", "engine_pruned"):
            if arm in row:
                row[f"{arm}_throughput_ratio"] = round(
                    row[arm]["frames_per_s"] / row["baseline"]["frames_per_s"], 3)
        levels[str(n)] = row
        print_row(n, row)
    await engine.close()
    if pruned_engine:
        await pruned_engine.close()
    top = levels.get("16", levels[str(max(args.streams))])
    headline = "engine_pruned" if "engine_pruned_throughput_ratio" in top else "engine"
    result = {
        "benchmark": "serve",
        "model": args.model,
        "model_note": ("real SmolLM2-135M language weights + random vision tower (576 visual tokens)"
                       if args.model == "smollm_llava" else "tiny random Qwen2.5-VL (code paths only)"),
        "device": "cpu", "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "max_new_tokens": args.max_new_tokens,
        "pruner": args.pruner,
        "quick": args.quick,
        "levels": levels,
        "headline_arm": headline,
        "throughput_ratio_16": top[f"{headline}_throughput_ratio"],
        "throughput_ratio_16_no_pruning": top["engine_throughput_ratio"],
        "ttfd_p95_16_s": {arm: top[arm]["ttfd_p95_s"] for arm in ("baseline", "engine", "engine_pruned")
                          if arm in top},
        "floor_throughput_ratio_16": FLOOR_THROUGHPUT_RATIO_16,
        "arms": {
            "baseline": "transformers model.generate(), greedy, xgrammar HF logits processor, one "
                        "request at a time (FIFO), no pruning",
            "engine": "DescriptionEngine: continuous batching (max 16 rows), shared-prompt prefix KV, "
                      "per-row grammar with closing reserve, no pruning",
            "engine_pruned": f"engine + visual-token pruning {args.pruner}",
        },
        "note": ("ratios are engine frames/s over baseline frames/s measured in the same run on a "
                 "shared 2-core CPU; prefill is compute-bound here, so batching alone helps decode "
                 "only and pruning is what removes most prefill work. The baseline has no closing "
                 "reserve: answers the budget cuts are counted as parse_failures (their tokens are "
                 "still counted)"),
    }
    return result


def print_row(n: int, row: dict) -> None:
    print(f"\n{n} streams x {row['frames_per_stream']} frames")
    print(f"  {'arm':<14}{'frames/s':>10}{'p50 s':>9}{'p95 s':>9}{'tokens':>8}{'tok/s':>8}{'fail':>6}"
          f"{'ratio':>8}")
    for arm in ("baseline", "engine", "engine_pruned"):
        if arm in row:
            r = row[arm]
            ratio = row.get(f"{arm}_throughput_ratio", 1.0)
            print(f"  {arm:<14}{r['frames_per_s']:>10.3f}{r['ttfd_p50_s']:>9.2f}{r['ttfd_p95_s']:>9.2f}"
                  f"{r['generated_tokens']:>8}{r['tokens_per_s']:>8.1f}{r['parse_failures']:>6}{ratio:>8.2f}")


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
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    result = asyncio.run(bench(args))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    ok = result["throughput_ratio_16"] >= FLOOR_THROUGHPUT_RATIO_16
    print(f"\nthroughput_ratio_16 = {result['throughput_ratio_16']} "
          f"(floor {FLOOR_THROUGHPUT_RATIO_16}: {'ok' if ok else 'BELOW'}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
