"""HybridKV answer quality against ground truth: the benchmark VLM on single-image test scenes.

`vigil-bench-vlm` was trained on ONE image per prompt (576 visual tokens), so quality is
measured there: each test scene (benchmarks/scenes, split "test") is one image with the
model's own question. Scenes are prefilled in batches of `batch` (one LM pass, the attention
capture on, as the engine's runner prefills); every arm then compresses a copy of that
batch's cache with its press (`after_prefill`, the runner's hook) and decodes the batch's
JSON answers greedily through the engine's `ModelRunner` (grammar-constrained, finished rows
released as the engine releases them). Sharing the prefill keeps the arms' prompts
bit-identical and the run affordable on a CPU.

Per arm: the answers (scored field by field against the truth, `benchmarks.scenes.scoring`,
and against the full cache's answer), KV bytes held per scene right after compression,
and decode tokens/s of the batch. Timing repeats decode `timing_tokens` steps of every arm
again, interleaved within the batch (arm A, B, ..., A, B, ...), on the first `timing_batches`
batches (the CPU's time goes to answers on the rest); repeat 0 is the answer pass,
whose throughput is kept apart (its rows finish at different steps).
"""
from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.provenance import interleaved
from cloud.engine.runner import ModelRunner, RowState, left_pad_batch

# Room for the longest answer (~34 tokens) with the grammar's closing tail (as benchmarks/scenes/evaluate.py).
MAX_NEW_TOKENS = 64
BATCH = 16


def clone_cache(adapter, cache):
    out = adapter.new_cache()
    for i, layer in enumerate(layer for layer in cache.layers if getattr(layer, "is_initialized", False)):
        out.update(layer.keys.clone(), layer.values.clone(), i)
    return out


@torch.inference_mode()
def prefill_batch(adapter, images: list, prompt: str, system: str, capture) -> dict[str, Any]:
    """One LM pass over one image per row; the capture's prefill attention is kept for the presses."""
    pres = [adapter.embed(adapter.prepare([im], prompt, system)) for im in images]
    embeds, positions, mask = left_pad_batch(pres)
    cache = adapter.new_cache()
    capture.clear()
    t0 = time.perf_counter()
    logits = adapter.forward(embeds, positions, mask, cache)
    seconds = time.perf_counter() - t0
    return {"pres": pres, "mask": mask, "cache": cache, "logits": logits, "saved": dict(capture.prefill),
            "seconds": seconds}


@torch.inference_mode()
def decode_batch(adapter, grammar, press, capture, batch: dict[str, Any], max_new: int) -> dict[str, Any]:
    """Compress a copy of `batch`'s cache with `press` (None: full cache) and decode every row."""
    runner = ModelRunner(adapter, grammar, kv_press=press, prefix_cache=False)
    cache, mask = clone_cache(adapter, batch["cache"]), batch["mask"].clone()
    if press is not None:
        capture.prefill.clear()
        capture.prefill.update(batch["saved"])
        mask = press.after_prefill(cache, mask, batch["pres"])
    runner.kv.merge(cache, mask)
    states = [RowState(seq_id=str(i), matcher=grammar.matcher(), next_position=int(pre.position_ids.max()) + 1,
                      max_new_tokens=max_new, prompt_tokens=pre.length, visual_tokens=pre.n_visual,
                      visual_tokens_before_prune=pre.n_visual) for i, pre in enumerate(batch["pres"])]
    runner.rows = list(states)
    out = runner._accept(states, runner._sample(batch["logits"].clone(), states))
    rows = len(states)
    held = runner.kv.nbytes()
    read = runner.kv.read_nbytes() if hasattr(runner.kv, "read_nbytes") else held
    allocated = runner.kv.allocated_nbytes() if hasattr(runner.kv, "allocated_nbytes") else held
    runner.release([o.seq_id for o in out if o.finished])
    tokens, t0 = 0, time.perf_counter()
    while runner.rows:
        out = runner.decode()
        tokens += len(out)
        runner.release([o.seq_id for o in out if o.finished])
    seconds = time.perf_counter() - t0
    return {"texts": [runner.text_of(s) for s in states], "kv_bytes": held / rows, "kv_read_bytes": read / rows,
            "kv_allocated_bytes": allocated / rows, "tok_s": tokens / seconds if seconds > 0 else None}


def run_quality(adapter, grammar, arms: dict[str, Any], capture, scenes_mod, n: int, seed: int,
                batch_size: int = BATCH, repeats: int = 3, timing_tokens: int = 16,
                split: str = "test", timing_batches: int | None = None, log=print) -> dict[str, Any]:
    """Every arm on `n` scenes of `split`; returns per arm the answers, bytes and tok/s lists.
    Timing repeats run on the first `timing_batches` batches (None: all)."""
    test = scenes_mod.make_scenes(split, n, seed)
    per_arm = {name: {"texts": [], "kv_bytes": [], "kv_read_bytes": [], "kv_allocated_bytes": [],
                      "answer_tok_s": [], "tok_s": []} for name in arms}
    prefill_s, prompt_tokens = [], 0
    for start in range(0, n, batch_size):
        group = test[start:start + batch_size]
        batch = prefill_batch(adapter, [s.image for s in group], scenes_mod.QUESTION, scenes_mod.SYSTEM, capture)
        prefill_s.append(batch["seconds"] / len(group))
        prompt_tokens = batch["pres"][0].length
        log(f"scenes {start + 1}-{start + len(group)}/{n}: {batch['pres'][0].length} tokens "
            f"({batch['pres'][0].n_visual} visual), prefill {batch['seconds']:.1f} s")
        timed = timing_batches is None or start // batch_size < timing_batches
        for rep, name in interleaved(list(arms), 1 + (repeats if timed else 0)):
            res = decode_batch(adapter, grammar, arms[name], capture, batch,
                               MAX_NEW_TOKENS if rep == 0 else timing_tokens)
            rec = per_arm[name]
            if rep == 0:
                rec["texts"] += res["texts"]
                for key in ("kv_bytes", "kv_read_bytes", "kv_allocated_bytes"):
                    rec[key].append(res[key])
                rec["answer_tok_s"].append(res["tok_s"])
            else:
                rec["tok_s"].append(res["tok_s"])
            log(f"  repeat {rep} {name:>20}: {res['tok_s']:.1f} tok/s, {res['kv_bytes'] / 1e6:.2f} MB/scene")
        del batch
    return {"scenes": test, "per_arm": per_arm, "prefill_s_per_scene": prefill_s, "prompt_tokens": prompt_tokens}


def score_arms(scenes_mod, scenes: list, per_arm: dict[str, dict]) -> dict[str, dict]:
    """Field accuracy against truth and agreement with the full cache's answer, per field."""
    truths = [s.truth for s in scenes]
    full = [scenes_mod.fields_of(t) for t in per_arm["full"]["texts"]]
    out = {}
    for name, rec in per_arm.items():
        texts = rec["texts"]
        fields = [scenes_mod.fields_of(t) for t in texts]
        agree_rows = []
        for got, ref in zip(fields, full):
            row = {f: float(got is not None and ref is not None and got[f] == ref[f]) for f in scenes_mod.FIELDS}
            row["exact"] = float(all(row[f] == 1.0 for f in scenes_mod.FIELDS))
            agree_rows.append(row)
        out[name] = {
            "field_accuracy": scenes_mod.mean_scores(scenes_mod.field_scores(t, tr) for t, tr in zip(texts, truths)),
            "agreement_with_full": scenes_mod.mean_scores(agree_rows),
            "json_valid": sum(f is not None for f in fields) / max(1, len(fields)),
        }
    return out
