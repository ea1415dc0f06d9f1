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

Multi-frame events (recipe v2, benchmarks/scenes/events.py) go through the same pass: a
scenes module with `frames(item)` gives each row several images (one request, the engine's
multi-image prompt), and `summarize_multi_frame` pairs HybridKV against each baseline press
over the same events, field by field, against the truth and against the full cache's answer.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.provenance import interleaved
from benchmarks.stats import compare, paired_bootstrap, verdict
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
    """One LM pass over one request per row (an image, or a list of an event's frames); the
    capture's prefill attention is kept for the presses."""
    pres = [adapter.embed(adapter.prepare(list(im) if isinstance(im, (list, tuple)) else [im], prompt, system))
            for im in images]
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
                split: str = "test", timing_batches: int | None = None, log=print,
                max_new_tokens: int = MAX_NEW_TOKENS) -> dict[str, Any]:
    """Every arm on `n` scenes of `split`; returns per arm the answers, bytes and tok/s lists.
    Timing repeats run on the first `timing_batches` batches (None: all). A scenes module with
    `frames(item)` (recipe v2) gives each request that item's frames, else its one `image`."""
    test = scenes_mod.make_scenes(split, n, seed)
    frames_of = getattr(scenes_mod, "frames", None)
    per_arm = {name: {"texts": [], "kv_bytes": [], "kv_read_bytes": [], "kv_allocated_bytes": [],
                      "answer_tok_s": [], "tok_s": []} for name in arms}
    prefill_s, prompt_tokens = [], 0
    for start in range(0, n, batch_size):
        group = test[start:start + batch_size]
        rows = [frames_of(s) for s in group] if frames_of is not None else [s.image for s in group]
        batch = prefill_batch(adapter, rows, scenes_mod.QUESTION, scenes_mod.SYSTEM, capture)
        prefill_s.append(batch["seconds"] / len(group))
        prompt_tokens = batch["pres"][0].length
        log(f"scenes {start + 1}-{start + len(group)}/{n}: {batch['pres'][0].length} tokens "
            f"({batch['pres'][0].n_visual} visual), prefill {batch['seconds']:.1f} s")
        timed = timing_batches is None or start // batch_size < timing_batches
        for rep, name in interleaved(list(arms), 1 + (repeats if timed else 0)):
            res = decode_batch(adapter, grammar, arms[name], capture, batch,
                               max_new_tokens if rep == 0 else timing_tokens)
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
    """Field accuracy against truth (and each scene's per-field correctness) and agreement with the
    full cache's answer, per field."""
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
        rows = [scenes_mod.field_scores(t, tr) for t, tr in zip(texts, truths)]
        out[name] = {
            "field_accuracy": scenes_mod.mean_scores(rows),
            "correct": [[int(r[f]) for f in scenes_mod.FIELDS] for r in rows],   # per scene: paired comparisons
            "agree": [[int(r[f]) for f in scenes_mod.FIELDS] for r in agree_rows],
            "agreement_with_full": scenes_mod.mean_scores(agree_rows),
            "json_valid": sum(f is not None for f in fields) / max(1, len(fields)),
        }
    return out


def paired_fields(a_rows: list[list[int]], b_rows: list[list[int]], fields: tuple[str, ...],
                  leave_out: tuple[str, ...] = ()) -> dict:
    """A against B on the same events: `compare` on the per-event mean over `fields` minus
    `leave_out`, and each field's own paired difference (bootstrap interval, verdict)."""
    keep = [i for i, f in enumerate(fields) if f not in leave_out]
    overall = compare([[r[i] for i in keep] for r in a_rows], [[r[i] for i in keep] for r in b_rows])
    per_field = {}
    for i, f in enumerate(fields):
        boot = paired_bootstrap([r[i] for r in a_rows], [r[i] for r in b_rows])
        per_field[f] = {**boot, "verdict": verdict(boot["ci95"])}
    return {**overall, "fields": [fields[i] for i in keep], "per_field": per_field}


def summarize_multi_frame(scores: dict[str, dict], fields: tuple[str, ...], head: str, presses: list[str],
                          baselines: list[str], unanswerable: tuple[str, ...] = ("action",)) -> dict:
    """HybridKV at budget `head` against each baseline press, paired over the same events, on
    correctness against the truth and on agreement with the full cache, over all fields and
    over the fields without `unanswerable` (fields the model cannot answer, fixed before the run:
    every arm is at chance or zero there, so they only dilute a difference)."""
    # `beats_<press>` is True only when the interval of HybridKV minus that press lies above 0.
    arm = {name: f"{name}@{head}" for name in presses}
    hyb = scores[arm["hybridkv"]]
    out: dict = {"fields": list(fields), "unanswerable_fields": list(unanswerable),
                 "field_accuracy": {"full": scores["full"]["field_accuracy"],
                                    **{name: scores[a]["field_accuracy"] for name, a in arm.items()}},
                 "agreement_with_full": {name: scores[a]["agreement_with_full"] for name, a in arm.items()},
                 "json_valid": {"full": scores["full"]["json_valid"],
                                **{name: scores[a]["json_valid"] for name, a in arm.items()}},
                 "paired_truth": {}, "paired_truth_answerable": {}, "paired_agreement": {},
                 "paired_agreement_answerable": {}}
    for name in baselines:
        other = scores[arm[name]]
        out["paired_truth"][name] = paired_fields(hyb["correct"], other["correct"], fields)
        out["paired_truth_answerable"][name] = paired_fields(hyb["correct"], other["correct"], fields,
                                                             unanswerable)
        out["paired_agreement"][name] = paired_fields(hyb["agree"], other["agree"], fields)
        out["paired_agreement_answerable"][name] = paired_fields(hyb["agree"], other["agree"], fields,
                                                                 unanswerable)
        out[f"beats_{name}"] = out["paired_truth"][name]["beats"]
        out[f"beats_{name}_agreement"] = out["paired_agreement"][name]["beats"]
    full_acc = scores["full"]["field_accuracy"]["field_accuracy"]
    out["field_retention"] = {name: (scores[a]["field_accuracy"]["field_accuracy"] / full_acc if full_acc else None)
                              for name, a in arm.items()}
    return out
