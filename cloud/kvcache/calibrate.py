"""Calibrating HybridKV's head profile: which heads are static, which dynamic, and how much each needs.

HybridKV (arXiv 2604.05887) classifies heads by text-centric attention. Our reading and
measure, per (layer, KV head), on a calibration set of prompts and frames that is not
the evaluation data:
- text prior: at prefill, the attention the prompt's text (the last `window` tokens that
  are text) pays to each visual token; its top `prior_share` of visual tokens are what
  text-prior pruning would keep at that budget;
- stability: at each of `steps` greedy (JSON-constrained) decoding steps, the share of the
  new token's visual attention that falls on those kept tokens, averaged over steps and
  samples. A head whose focus stays where the text pointed is static (>= `threshold`):
  pruning it once after prefill loses little. One whose focus moves is dynamic;
- need: the share of visual tokens in the union, over decoding steps, of the smallest sets
  holding `cover` of each step's visual attention: how many tokens the head needs held.
  It weighs the top-down budget allocation (cloud/kvcache/allocation.py).

Run: python -m cloud.kvcache.calibrate --model smollm_llava [--out PATH]
It writes hybridkv_profile.json beside the model (or to --out), with a progress bar.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cloud.kvcache.attention import AttentionCapture, install
from cloud.kvcache.head_profile import HeadProfile, default_profile_path, model_fingerprint

# Frames from these clips calibrate; bikes.mp4 is the benchmarks' evaluation clip.
CALIBRATION_CLIPS = ("bigbuckbunny.mp4", "carphone_pristine.mp4")
# Static: text-prior pruning keeps at least 3/4 of the head's decode-time visual attention.
# (Chosen on the calibration set, where stabilities spread from 0.2 to 0.99 with no gap
# below ~0.8: 0.75 splits the focused middle layers from the rest.)
DEFAULT_THRESHOLD = 0.75
DEFAULT_PRIOR_SHARE = 0.125  # the budget the prior's picks stand for (the middle benchmark budget)
DEFAULT_COVER = 0.9          # attention mass a head's "needed" set must hold per step
DEFAULT_WINDOW = 32


@dataclass
class HeadStats:
    stability: torch.Tensor   # [L, H]
    need: torch.Tensor        # [L, H]


def head_stats(capture: AttentionCapture, visual: torch.Tensor, text_rows: torch.Tensor,
               prior_share: float, cover: float) -> HeadStats:
    """Stability and need of every head from one captured prefill + decode (batch row 0)."""
    layers = sorted(capture.prefill)
    n_vis = visual.numel()
    k = max(1, math.ceil(prior_share * n_vis))
    stab, need = [], []
    for layer in layers:
        prior = capture.prefill[layer][0][:, text_rows].mean(1)[:, visual]          # [H, V]
        picks = torch.topk(prior, k, dim=1).indices
        steps = torch.stack([step[layer][0][:, visual] for step in capture.decode])  # [S, H, V]
        mass = steps.sum(-1).clamp_min(1e-12)
        on_picks = torch.gather(steps, 2, picks[None].expand(steps.shape[0], -1, -1)).sum(-1)
        stab.append((on_picks / mass).mean(0))
        order = torch.sort(steps, dim=-1, descending=True)
        before = order.values.cumsum(-1) - order.values          # mass strictly before each token
        needed = before < cover * mass[..., None]
        held = torch.zeros_like(steps, dtype=torch.bool).scatter_(2, order.indices, needed)
        need.append(held.any(0).float().mean(-1))
    return HeadStats(torch.stack(stab), torch.stack(need))


@torch.inference_mode()
def profile_sample(adapter, grammar, images: list[np.ndarray], prompt: str, system: str, steps: int,
                   capture: AttentionCapture, prior_share: float, cover: float) -> HeadStats:
    from cloud.answer.constrained import BatchConstraint
    from cloud.answer.prompting import model_prompt

    capture.clear()
    capture.record_decode = False
    pre = adapter.embed(adapter.prepare(images, *model_prompt(prompt, system, adapter.fixed_prompt)))
    cache = adapter.new_cache()
    logits = adapter.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, cache)
    capture.record_decode = True
    constraint, matcher = BatchConstraint(grammar), grammar.matcher()
    position, mask = int(pre.position_ids.max()) + 1, pre.attention_mask
    for i in range(steps):
        tok = int(constraint.mask(logits, [matcher], [steps - i]).argmax(-1)[0])
        if tok in adapter.stop_token_ids or not matcher.accept_token(tok) or matcher.is_completed():
            break
        mask = torch.cat([mask, mask.new_ones(1, 1)], dim=1)
        pos = torch.full((adapter.position_rows, 1, 1), position + i, device=adapter.device)
        logits = adapter.forward(adapter.embed_tokens(torch.tensor([[tok]], device=adapter.device)), pos,
                                 mask, cache)
    capture.record_decode = False
    if not capture.decode:
        raise RuntimeError("no decoding step was recorded; raise --steps")
    vis_mask = pre.visual_token_mask[0]
    visual = vis_mask.nonzero().squeeze(1)
    w = next(iter(capture.prefill.values())).shape[2]
    text_rows = ~vis_mask[-w:]
    if not bool(text_rows.any()):
        raise ValueError("the prompt ends with visual tokens; the text prior needs text after the frames")
    return head_stats(capture, visual, text_rows, prior_share, cover)


def calibration_set(samples: int, frames: int) -> list[tuple[list[np.ndarray], str, str]]:
    """(frames, user prompt, system prompt) per sample: consecutive frames of calibration clips."""
    from cloud.answer.prompting import build_prompt
    from cloud.answer.request import DescribeRequest
    from cloud.models.frames import sample_frames

    out = []
    for i in range(samples):
        clip = CALIBRATION_CLIPS[i % len(CALIBRATION_CLIPS)]
        start = (i // len(CALIBRATION_CLIPS)) * frames * 3
        imgs = sample_frames(clip, frames, start=start, step=3)
        req = DescribeRequest(request_id=f"calib{i}", camera_id="calib", event_id=f"calib{i}", images=imgs)
        guided = build_prompt(req, draw_boxes=False)
        out.append((guided.images, guided.user, guided.system))
    return out


def compute_profile(adapter, samples, *, steps: int, threshold: float = DEFAULT_THRESHOLD,
                    prior_share: float = DEFAULT_PRIOR_SHARE, cover: float = DEFAULT_COVER,
                    window: int = DEFAULT_WINDOW, progress=None,
                    source: dict[str, Any] | None = None) -> HeadProfile:
    """The profile of `adapter`'s heads over `samples` [(images, prompt, system)]; `source`
    describes where the samples came from (default: the calibration clips)."""
    from cloud.answer.constrained import grammar_for

    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    capture = install(adapter.language_model, AttentionCapture(window=window))
    stats = []
    for images, prompt, system in samples:
        stats.append(profile_sample(adapter, grammar, images, prompt, system, steps, capture,
                                    prior_share, cover))
        if progress is not None:
            progress.update(1)
    stability = torch.stack([s.stability for s in stats]).mean(0)
    need = torch.stack([s.need for s in stats]).mean(0)
    classes = [["static" if float(x) >= threshold else "dynamic" for x in row] for row in stability]
    return HeadProfile(
        fingerprint=model_fingerprint(adapter.language_model, adapter.model), classes=classes,
        stability=[[round(float(x), 4) for x in row] for row in stability],
        need=[[round(float(x), 4) for x in row] for row in need], threshold=threshold,
        calibration={"samples": len(samples), "steps": steps, "prior_share": prior_share, "cover": cover,
                     "window": window, **(source or {"clips": list(CALIBRATION_CLIPS)})})


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from cloud.models.choice import ModelChoice
    from cloud.models.registry import load_adapter

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm_llava", help="the model (engine.model: smollm_llava, a checkpoint dir, ...)")
    ap.add_argument("--out", type=Path, default=None, help="profile path (default: beside the model)")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--frames", type=int, default=4, help="frames per calibration prompt")
    ap.add_argument("--steps", type=int, default=24, help="decoding steps observed per prompt")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or default_profile_path(args.model)
    if out is None:
        ap.error(f"model {args.model!r} has no folder to put the profile beside; pass --out")
    adapter = load_adapter(ModelChoice(model=args.model))
    samples = calibration_set(args.samples, args.frames)
    with tqdm(total=len(samples), desc="profiling heads", unit="prompt", file=sys.stderr) as bar:
        profile = compute_profile(adapter, samples, steps=args.steps, threshold=args.threshold, progress=bar)
    profile.save(out)
    print(f"wrote {out}: {profile.dynamic_share():.0%} of {profile.layers}x{profile.kv_heads} KV heads dynamic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
