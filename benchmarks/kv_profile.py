"""HybridKV head profile of the benchmark VLM, calibrated on TRAINING scenes (never test).

The profile is computed by the product's profiling code (`cloud.kvcache.profiling.
compute_profile`, what `python -m cloud.kvcache.profiling` runs), only its calibration set
differs: procedural scenes from benchmarks/scenes, which product code may not import.
One image per sample (576 visual tokens), the model's training question and system prompt,
as the model was trained (single images) and as benchmarks/kv.py evaluates it. The split is
"train", so the scenes the benchmark scores (split "test") never decide a head's class.
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
RESULTS = Path(__file__).resolve().parent / "results"


def profile_path(model: str = MODEL) -> Path:
    return RESULTS / f"kv_profile_{model}.json"


def scene_samples(n: int, seed: int = CALIBRATION_SEED, split: str = CALIBRATION_SPLIT) -> list[tuple]:
    """[(images, prompt, system)]: one scene image each, with the model's own question."""
    import benchmarks.scenes as scenes

    if split == "test":
        raise ValueError("the head profile must not be calibrated on the test split")
    return [([scene.image], scenes.QUESTION, scenes.SYSTEM) for scene in scenes.make_scenes(split, n, seed)]


def main(argv: list[str] | None = None) -> int:
    import torch
    from tqdm import tqdm

    from benchmarks.provenance import Provenance
    from cloud.engine.config import EngineConfig
    from cloud.kvcache.profiling import DEFAULT_THRESHOLD, compute_profile
    from cloud.models.registry import load_adapter

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=SAMPLES)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--split", default=CALIBRATION_SPLIT, choices=["train", "val"])
    ap.add_argument("--seed", type=int, default=CALIBRATION_SEED)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
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
    profile.provenance = prov.finish(repeats=1)
    profile.save(args.out)
    print(f"wrote {args.out}: {profile.dynamic_share():.0%} of {profile.layers}x{profile.kv_heads} KV heads dynamic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
