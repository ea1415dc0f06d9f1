"""HybridKV head profile of the benchmark VLM, calibrated on TRAINING scenes (never test).

The profile is computed by the product's profiling code (`cloud.kvcache.calibrate.
compute_profile`, what `python -m cloud.kvcache.calibrate` runs), only its calibration set
differs: procedural scenes from benchmarks/scenes, which product code may not import.
One image per sample (576 visual tokens), the model's training question and system prompt,
as the model was trained (single images) and as benchmarks/kv.py evaluates it. The split is
"train", so the scenes the benchmark scores (split "test") never decide a head's class.

The stability threshold that splits static from dynamic heads (0.75 in the product, chosen
on smollm_llava's calibration clips) is re-chosen for this model on VALIDATION scenes: the
candidates are the default and the thresholds that make SELECTION_SHARES of the heads
dynamic (from the training-scene stabilities); each runs HybridKV at the benchmark's
headline budget on `--select-scenes` val scenes, and the best field accuracy against
truth wins (ties: the higher agreement with the full cache, then the earlier candidate).
The table of that choice is stored in the profile's `calibration.threshold_selection`.
The JSON gets `provenance` (benchmarks/provenance.py) beside the calibration details.

Run: python -m benchmarks.kv_profile  ->  benchmarks/results/kv_profile_vigil-bench-vlm.json
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL = "vigil-bench-vlm"
CALIBRATION_SPLIT = "train"      # never "test": the benchmark scores test scenes
CALIBRATION_SEED = 1
SAMPLES = 16
# Decoding steps watched per sample: the longest answer is ~34 tokens, so 40 sees it whole.
STEPS = 40
SELECTION_SPLIT = "val"
SELECTION_SCENES = 32
SELECTION_SHARES = (0.25, 0.5, 0.75)   # dynamic-head shares whose thresholds are tried beside the default
RESULTS = Path(__file__).resolve().parent / "results"


def profile_path(model: str = MODEL) -> Path:
    return RESULTS / f"kv_profile_{model}.json"


def scene_samples(n: int, seed: int = CALIBRATION_SEED, split: str = CALIBRATION_SPLIT) -> list[tuple]:
    """[(images, prompt, system)]: one scene image each, with the model's own question."""
    import benchmarks.scenes as scenes

    if split == "test":
        raise ValueError("the head profile must not be calibrated on the test split")
    return [([scene.image], scenes.QUESTION, scenes.SYSTEM) for scene in scenes.make_scenes(split, n, seed)]


def candidate_thresholds(stability: list[list[float]], default: float,
                         shares: tuple[float, ...] = SELECTION_SHARES) -> list[float]:
    """The default, then for each share s the threshold below which s of the heads fall (dynamic)."""
    flat = sorted(x for row in stability for x in row)
    out = [default]
    for share in shares:
        t = flat[min(len(flat) - 1, round(share * len(flat)))]
        if t not in out:
            out.append(t)
    return out


def pick(table: list[dict]) -> dict:
    """Best field accuracy; ties: higher agreement with the full cache, then the earlier candidate."""
    return max(table, key=lambda r: (r["field_accuracy"], r["agreement_exact"]))


def select_threshold(adapter, profile, n: int, seed: int, budget: float, log=print) -> tuple[float, dict]:
    """Choose the static/dynamic threshold on `n` validation scenes (see the module docstring)."""
    import benchmarks.scenes as scenes
    from benchmarks.kv_quality import BATCH, run_quality, score_arms
    from cloud.answer.constrained import grammar_for
    from cloud.kvcache import build_press
    from cloud.kvcache.attention import AttentionCapture, install
    from cloud.kvcache.config import KVCacheConfig

    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    capture = AttentionCapture(window=KVCacheConfig().observation_window)
    candidates = candidate_thresholds(profile.stability, profile.threshold)
    arms = {"full": None}
    for t in candidates:
        press = build_press(KVCacheConfig(method="hybridkv", budget=budget), adapter.language_model,
                            profile=profile.with_threshold(t))
        press.capture = capture
        arms[f"hybridkv@{t}"] = press
    install(adapter.language_model, capture)
    run = run_quality(adapter, grammar, arms, capture, scenes, n, seed, BATCH, repeats=0,
                      split=SELECTION_SPLIT, log=log)
    scores = score_arms(scenes, run["scenes"], run["per_arm"])
    table = [{"threshold": t, "dynamic_share": profile.with_threshold(t).dynamic_share(),
              "field_accuracy": scores[f"hybridkv@{t}"]["field_accuracy"]["field_accuracy"],
              "agreement_exact": scores[f"hybridkv@{t}"]["agreement_with_full"]["exact"]} for t in candidates]
    best = pick(table)
    return best["threshold"], {"split": SELECTION_SPLIT, "scenes": n, "scene_seed": seed, "budget": budget,
                               "full_cache_field_accuracy": scores["full"]["field_accuracy"]["field_accuracy"],
                               "candidates": table, "chosen": best["threshold"]}


def main(argv: list[str] | None = None) -> int:
    import torch
    from tqdm import tqdm

    from benchmarks.provenance import Provenance
    from cloud.engine.config import EngineConfig
    from cloud.kvcache.calibrate import DEFAULT_THRESHOLD, compute_profile
    from cloud.models.registry import load_adapter

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=SAMPLES)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--split", default=CALIBRATION_SPLIT, choices=["train", "val"])
    ap.add_argument("--seed", type=int, default=CALIBRATION_SEED)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--select-scenes", type=int, default=SELECTION_SCENES,
                    help="val scenes that choose the threshold (0: keep --threshold)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=profile_path())
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    prov = Provenance(seeds={"scenes": args.seed})
    adapter = load_adapter(EngineConfig(model=MODEL))
    samples = scene_samples(args.samples, args.seed, args.split)
    with tqdm(total=len(samples), desc="profiling heads", unit="scene", file=sys.stderr) as bar:
        profile = compute_profile(adapter, samples, steps=args.steps, threshold=args.threshold, progress=bar,
                                  source={"scenes": "benchmarks.scenes", "split": args.split,
                                          "scene_seed": args.seed, "images_per_sample": 1})
    if args.select_scenes > 0:
        from benchmarks.kv import HEADLINE_BUDGET

        chosen, table = select_threshold(adapter, profile, args.select_scenes, args.seed, HEADLINE_BUDGET)
        profile = profile.with_threshold(chosen)
        profile.calibration["threshold_selection"] = table
    profile.provenance = prov.finish(repeats=1)
    profile.save(args.out)
    print(f"wrote {args.out}: {profile.dynamic_share():.0%} of {profile.layers}x{profile.kv_heads} KV heads dynamic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
