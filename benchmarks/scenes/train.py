"""Train the vision side of `vigil-bench-vlm` (deterministic given --seed up to GPU float order).

The language model (SmolLM2-135M-Instruct's real weights) stays frozen; what is
trained is the CLIP-style tower, LLaVA's projector and rank-8 LoRA adapters on
the LM's q/v (merged into the weights at load; cloud/models/bench/vlm.py).
Two stages, as LLaVA trains its projector before the whole model:

Stage 1, tower only (no language model). Per-patch targets from the scene's
  instance mask: a patch >= OBJECT_COVER covered by an object learns the
  object's class, colour, its group's count, place and action; an uncovered
  patch learns "background", with flat attribute logits (background says
  nothing about the objects); a partly covered patch is ignored. [CLS] learns
  the whole answer, so its attention becomes a real saliency for ID-Selection's
  [CLS] variant. These targets keep the tokens spatial: what the model knows
  about an object lives in the patches it covers.
Stage 2, end to end through the frozen LM: the serving prompt (the same chat
  template and question the engine builds) with ALL 576 visual tokens, then the
  teacher-forced answer in the alert schema; next-token loss on every answer
  token (keys and punctuation too: the grammar leaves some of them open, and
  the free-running model must close the JSON the way it was taught). The
  projector starts from the stage-1 heads (its first layer's first rows are the
  heads; its second maps each head output to the embedding of the answer word
  it stands for). The tower keeps training at a lower rate, with the stage-1
  loss beside the LM loss so its tokens stay spatial. A share SUBSET_SHARE of the
  batches keeps a uniformly random subset of the visual tokens (random size,
  original position ids), so the model has seen an image with fewer tokens; the
  subsets are random, so no pruner is favoured.
Progress is printed; validation measures teacher-forced token accuracy and
greedy free-running exact match on validation scenes. The weights go to
cloud/models/bench/weights/ with the scene recipe's hash and the training cost.
A CPU run of the full recipe takes hours; a GPU run minutes:
  python -m benchmarks.scenes.train --device cuda
A smoke run (tests, CPU): --stage1-steps 2 --stage2-steps 2 --train-scenes 8 ...
--recipe 2 trains on recipe v2's events (benchmarks/scenes/events.py: two groups, FRAMES images
per event; targets in targets_v2.py): the tower runs on each frame, the prompt holds one
<image> per frame (the engine's multi-image prompt), and the weights go to
vigil_bench_vlm_v2.safetensors unless --out says otherwise (the served v1 weights stay).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.provenance import Provenance
from benchmarks.scenes import generator as gen
from benchmarks.scenes import targets_v2
from benchmarks.scenes.recipes import recipe_task
from benchmarks.scenes.scoring import fields_of

OBJECT_COVER = 0.2            # share of a patch's pixels an object must cover to label the patch
GRID = 24
PATCH = 14
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)   # CLIPImageProcessor's
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IGNORE = -100
# Patch heads (background is class 0) and [CLS] heads ("none" is index 0 where a scene can be empty).
PATCH_HEADS = {"class": 1 + len(gen.CLASSES), "colour": len(gen.COLOURS), "count": gen.MAX_COUNT,
               "position": len(gen.POSITIONS), "action": len(gen.ACTIONS)}
CLS_HEADS = {"class": 1 + len(gen.CLASSES), "colour": 1 + len(gen.COLOURS), "count": 1 + gen.MAX_COUNT,
             "position": 1 + len(gen.POSITIONS), "action": 1 + len(gen.ACTIONS)}
BACKGROUND_FLAT_WEIGHT = 0.2  # weight of the flat-attribute term on background patches
AUX_WEIGHT = 0.5              # stage 2: weight of the stage-1 loss beside the LM loss
SUBSET_SHARE = 0.25           # stage 2: share of batches that keep a random subset of the visual tokens
MIN_SUBSET = 16               # smallest random subset (tokens)
WARMUP = 50                   # steps of linear warm-up, then cosine decay
WEIGHTS_V2 = "vigil_bench_vlm_v2.safetensors"   # recipe 2's weights, beside the served v1 weights
TIMING_STEPS = 20             # stage 2 steps timed before the schedule is fitted to --time-budget


# ----------------------------------------------------------------------------- data
def scene_labels(scene: gen.Scene) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch targets (576, 5) and [CLS] targets (5,) for one scene."""
    cover = (scene.mask > 0).reshape(GRID, PATCH, GRID, PATCH).mean(axis=(1, 3)).reshape(-1)
    f = fields_of(scene.truth)
    empty = f["count"] == 0
    cls_t = np.array([0 if empty else 1 + gen.CLASSES.index(f["class"]),
                      0 if empty else 1 + gen.COLOURS.index(f["colour"]),
                      f["count"],
                      0 if empty else 1 + gen.POSITIONS.index(f["position"]),
                      0 if empty else 1 + gen.ACTIONS.index(f["action"])])
    patch = np.full((GRID * GRID, 5), IGNORE, np.int64)
    patch[cover == 0, 0] = 0
    if not empty:
        obj = cover >= OBJECT_COVER
        patch[obj] = [cls_t[0], cls_t[1] - 1, f["count"] - 1, cls_t[3] - 1, cls_t[4] - 1]
    return patch, cls_t


class Task:
    """What one recipe version trains: frames per item, head sizes, targets, projector words."""

    def __init__(self, recipe: int):
        self.recipe = recipe
        self.scenes = recipe_task(recipe)
        self.frames = self.scenes.frames_per_item
        self.patch_heads = PATCH_HEADS if recipe == 1 else targets_v2.PATCH_HEADS
        self.cls_heads = CLS_HEADS if recipe == 1 else targets_v2.CLS_HEADS
        self.words = (PROJECTOR_WORDS if recipe == 1 else targets_v2.PROJECTOR_WORDS)

    def render(self, split: str, seed: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """(frames (F, 336, 336, 3), per-frame patch targets (F, 576, H), [CLS] targets, truth JSON)."""
        item = self.scenes.make_scenes(split, 1, seed, start=index)[0]
        if self.recipe == 1:
            patch, cls_t = scene_labels(item)
            return item.image[None], patch[None], cls_t, json.dumps(item.truth)
        patch, cls_t = targets_v2.event_labels(item, OBJECT_COVER)
        return np.stack(item.frames), patch, cls_t, json.dumps(item.truth)


def _render(job: tuple[int, str, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    return Task(job[0]).render(*job[1:])


class SceneSet:
    """Items `start..start+n-1` of a split rendered once (in `workers` processes), as tensors:
    images (n, F, 336, 336, 3), patch (n, F, 576, H), cls (n, H')."""

    def __init__(self, split: str, seed: int, start: int, n: int, workers: int = 1, recipe: int = 1):
        jobs = [(recipe, split, seed, i) for i in range(start, start + n)]
        gen.background_frames(split)   # load the clip once before forking
        if workers > 1:
            with get_context("fork").Pool(workers) as pool:
                rows = pool.map(_render, jobs, chunksize=max(1, n // (workers * 8)))
        else:
            rows = [_render(j) for j in jobs]
        self.images = torch.from_numpy(np.stack([r[0] for r in rows]))          # (n, F, 336, 336, 3) uint8
        self.patch = torch.from_numpy(np.stack([r[1] for r in rows]))           # (n, F, 576, H)
        self.cls = torch.from_numpy(np.stack([r[2] for r in rows]))             # (n, H')
        self.truths = [json.loads(r[3]) for r in rows]

    def __len__(self) -> int:
        return len(self.truths)

    def to(self, device) -> "SceneSet":
        self.images, self.patch, self.cls = self.images.to(device), self.patch.to(device), self.cls.to(device)
        return self


def pixels(images: torch.Tensor) -> torch.Tensor:
    """What CLIPImageProcessor gives for (B, 336, 336, 3) uint8 RGB (no resize needed): (B, 3, 336, 336).
    (B, F, 336, 336, 3) frames are flattened to (B * F, ...) in time order."""
    if images.dim() == 5:
        images = images.flatten(0, 1)
    x = images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# ----------------------------------------------------------------------------- stage 1
def frame_targets(patch_t: torch.Tensor, cls_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, F, 576, H) and (B, H') -> per-frame (B * F, 576, H) and (B * F, H'), as `pixels` flattens."""
    frames = patch_t.shape[1]
    return patch_t.flatten(0, 1), cls_t.repeat_interleave(frames, dim=0)


class Heads(torch.nn.Module):
    def __init__(self, width: int, patch_heads: dict[str, int] | None = None, cls_heads: dict[str, int] | None = None):
        super().__init__()
        self.patch_heads = patch_heads or PATCH_HEADS
        self.cls_heads = cls_heads or CLS_HEADS
        self.patch = torch.nn.Linear(width, sum(self.patch_heads.values()))
        self.cls = torch.nn.Linear(width, sum(self.cls_heads.values()))

    @staticmethod
    def split(logits: torch.Tensor, sizes: dict[str, int]) -> list[torch.Tensor]:
        return list(torch.split(logits, list(sizes.values()), dim=-1))


@torch.no_grad()
def init_positions(tower) -> None:
    """2-D sine-cosine position embeddings (MAE's init) so place is learnable from step one."""
    emb = tower.embeddings.position_embedding.weight   # (1 + 576, W)
    quarter = emb.shape[1] // 4
    freqs = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(GRID, dtype=torch.float32), torch.arange(GRID, dtype=torch.float32),
                            indexing="ij")
    parts = []
    for coord in (ys.reshape(-1), xs.reshape(-1)):
        ang = coord[:, None] * freqs[None]
        parts += [torch.sin(ang), torch.cos(ang)]
    grid = torch.cat(parts, dim=1).to(emb.device)
    emb[1:, :grid.shape[1]] = grid
    emb[1:, grid.shape[1]:] = 0.0
    emb[0] = 0.0


def tower_features(tower, px: torch.Tensor) -> torch.Tensor:
    """(B, 577, W) hidden states at the layer LLaVA reads (the last), [CLS] first."""
    return tower(px, output_hidden_states=True).hidden_states[-1]


def stage1_loss(heads: Heads, feats: torch.Tensor, patch_t: torch.Tensor, cls_t: torch.Tensor):
    """feats (N, 577, W) of N frames; patch_t (N, 576, H) or (B, F, 576, H) with cls_t (B, H')."""
    if patch_t.dim() == 4:
        patch_t, cls_t = frame_targets(patch_t, cls_t)
    loss, accs = 0.0, {}
    feats = feats.float()
    background = patch_t[..., 0] == 0
    ph, ch = heads.patch_heads, heads.cls_heads
    for name, lg, t in zip(ph, heads.split(heads.patch(feats[:, 1:]), ph), patch_t.unbind(-1)):
        valid = t != IGNORE
        if valid.any():
            loss = loss + F.cross_entropy(lg[valid], t[valid])
            accs[f"patch_{name}"] = (lg[valid].argmax(-1) == t[valid]).float().mean().item()
        if name != "class" and background.any():
            loss = loss - BACKGROUND_FLAT_WEIGHT * F.log_softmax(lg[background], -1).mean()
    for name, lg, t in zip(ch, heads.split(heads.cls(feats[:, 0]), ch), cls_t.unbind(-1)):
        loss = loss + F.cross_entropy(lg, t)
        accs[f"cls_{name}"] = (lg.argmax(-1) == t).float().mean().item()
    return loss, accs


def lr_at(step: int, total: int, base: float) -> float:
    return base * min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * step / max(1, total)))


def autocast(device: str):
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda")


def train_stage1(tower, heads, data: SceneSet, val: SceneSet, args, gen_t: torch.Generator) -> dict:
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr1, weight_decay=0.01)
    t0 = time.time()
    vacc: dict = {}
    for step in range(args.stage1_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.stage1_steps, args.lr1)
        idx = torch.randint(len(data), (args.batch1,), generator=gen_t).to(data.images.device)
        tower.train()
        with autocast(args.device):
            feats = tower_features(tower, pixels(data.images[idx]))
        loss, _ = stage1_loss(heads, feats, data.patch[idx], data.cls[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % args.log_every == 0 or step == args.stage1_steps - 1:
            vacc = eval_stage1(tower, heads, val, args)
            print(f"stage1 step {step} loss {loss.item():.3f} {time.time() - t0:.0f}s val "
                  + " ".join(f"{k}={v:.2f}" for k, v in vacc.items()), flush=True)
    return {"steps": args.stage1_steps, "batch": args.batch1, "seconds": round(time.time() - t0, 1), "val": vacc}


@torch.no_grad()
def eval_stage1(tower, heads, val: SceneSet, args) -> dict:
    tower.eval()
    with autocast(args.device):
        feats = tower_features(tower, pixels(val.images))
    return stage1_loss(heads, feats, val.patch, val.cls)[1]


# ----------------------------------------------------------------------------- stage 2
def answer_text(truth: dict) -> str:
    return json.dumps(truth, separators=(",", ":"))


class SequenceBuilder:
    """The serving prompt's ids (576 image tokens) and the answer ids."""

    def __init__(self, tok, image_token_id: int, frames: int = 1):
        from cloud.models.bench.prompt import QUESTION, SYSTEM

        # one <image> per frame, joined by newlines before the question: the LLaVA adapter's layout
        content = "\n".join(["<image>"] * frames + [QUESTION])
        prompt = tok.apply_chat_template(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}],
            tokenize=False, add_generation_prompt=True)
        prompt = prompt.replace("<image>", "<image>" * GRID * GRID)
        self.ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids[0]
        self.is_visual = self.ids == image_token_id
        self.tok = tok
        self.end = tok.convert_tokens_to_ids("<|im_end|>")

    def answer_ids(self, truth: dict) -> list[int]:
        return self.tok(answer_text(truth), add_special_tokens=False).input_ids + [self.end]


def batch_inputs(model, builder: SequenceBuilder, visual: torch.Tensor, answers: list[list[int]],
                 keep: torch.Tensor | None):
    """Embeddings, position ids, targets for a teacher-forced batch.

    visual: (B, n_visual, D) projected tokens (frames concatenated); keep: (B, n) sorted kept visual indices or None (all).
    Rows have equal prompt length; answers are right-padded (pads come last, so causal attention
    never lets a real token see one) and carry no loss."""
    lm = model.model.language_model
    dev = visual.device
    ids = builder.ids.to(dev)
    is_vis = builder.is_visual.to(dev)
    text_pos = torch.nonzero(~is_vis).squeeze(1)
    vis_pos = torch.nonzero(is_vis).squeeze(1)
    b = visual.shape[0]
    if keep is None:
        keep = torch.arange(vis_pos.numel(), device=dev).expand(b, -1)
    kept_pos = vis_pos[keep]                                                   # (B, n)
    pos = torch.cat([text_pos.expand(b, -1), kept_pos], dim=1)
    pos, order = pos.sort(dim=1)
    text_emb = lm.embed_tokens(ids[text_pos]).expand(b, -1, -1)
    vis_emb = torch.gather(visual, 1, keep[..., None].expand(-1, -1, visual.shape[-1])).to(text_emb.dtype)
    emb = torch.cat([text_emb, vis_emb], dim=1)
    emb = torch.gather(emb, 1, order[..., None].expand(-1, -1, emb.shape[-1]))
    width = max(len(a) for a in answers)
    ans = torch.full((b, width), builder.end, dtype=torch.long, device=dev)
    target = torch.full((b, width), IGNORE, dtype=torch.long, device=dev)
    for i, a in enumerate(answers):
        ans[i, :len(a)] = torch.tensor(a, device=dev)
        target[i, :len(a)] = torch.tensor(a, device=dev)
    n_prompt = len(builder.ids)
    emb = torch.cat([emb, lm.embed_tokens(ans[:, :-1])], dim=1)
    pos = torch.cat([pos, torch.arange(n_prompt, n_prompt + width - 1, device=dev).expand(b, -1)], dim=1)
    return emb, pos, target


def lm_loss(model, builder, visual, answers, keep=None):
    emb, pos, target = batch_inputs(model, builder, visual, answers, keep)
    hidden = model.model.language_model(inputs_embeds=emb, position_ids=pos, use_cache=False).last_hidden_state
    width = target.shape[1]
    logits = model.lm_head(hidden[:, -width:]).float()
    valid = target != IGNORE
    loss = F.cross_entropy(logits[valid], target[valid])
    return loss, (logits[valid].argmax(-1) == target[valid]).float().mean().item()


def random_keep(b: int, n_visual: int, gen_t: torch.Generator, device) -> torch.Tensor:
    n = int(torch.randint(MIN_SUBSET, n_visual, (1,), generator=gen_t))
    scores = torch.rand(b, n_visual, generator=gen_t)
    return scores.topk(n, dim=1).indices.sort(dim=1).values.to(device)


def word_ids(tok, value: str) -> list[int]:
    return tok(value, add_special_tokens=False).input_ids


PROJECTOR_WORDS = (["nothing"] + list(gen.CLASSES) + list(gen.COLOURS) + [str(c) for c in range(1, gen.MAX_COUNT + 1)]
                   + list(gen.POSITIONS) + list(gen.ACTIONS))


@torch.no_grad()
def init_projector(model, heads: Heads, tok, values: list[str] | None = None) -> None:
    """First layer: the patch heads in the first rows; second layer: head output -> answer-word embedding."""
    proj = model.model.multi_modal_projector
    emb = model.model.language_model.embed_tokens.weight
    values = values or PROJECTOR_WORDS
    n = len(values)
    assert n == heads.patch.out_features
    proj.linear_1.weight[:n] = heads.patch.weight
    proj.linear_1.bias[:n] = heads.patch.bias
    proj.linear_1.weight[n:] *= 0.1
    proj.linear_2.weight.zero_()
    proj.linear_2.bias.zero_()
    for j, v in enumerate(values):
        proj.linear_2.weight[:, j] = emb[word_ids(tok, v)].mean(0) / 4.0
    proj.linear_2.weight[:, n:].normal_(0.0, 1e-3)


@torch.no_grad()
def match_rms(model, images: torch.Tensor, device: str) -> None:
    """Scale the projector's output to the RMS of SmolLM2's token embeddings (as smollm_llava does)."""
    text_rms = model.model.language_model.embed_tokens.weight.float().pow(2).mean().sqrt()
    with autocast(device):
        feats = tower_features(model.model.vision_tower, pixels(images))[:, 1:]
        out = model.model.multi_modal_projector(feats).float()
    scale = text_rms / out.pow(2).mean().sqrt()
    model.model.multi_modal_projector.linear_2.weight.mul_(scale)
    model.model.multi_modal_projector.linear_2.bias.mul_(scale)


def encode(model, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """images (B, F, 336, 336, 3) -> per-frame tower features (B * F, 577, W) and the projected
    visual tokens of each item, frames concatenated in time order (B, F * 576, D)."""
    feats = tower_features(model.model.vision_tower, pixels(images))
    visual = model.model.multi_modal_projector(feats[:, 1:])
    return feats, visual.reshape(images.shape[0], -1, visual.shape[-1])


def train_stage2(model, heads, builder, data: SceneSet, val: SceneSet, args, lora_params, gen_t) -> dict:
    tower, proj = model.model.vision_tower, model.model.multi_modal_projector
    groups = [(list(tower.parameters()) + list(heads.parameters()), args.lr_tower),
              (list(proj.parameters()), args.lr2), (lora_params, args.lr_lora)]
    opt = torch.optim.AdamW([{"params": p, "lr": lr} for p, lr in groups], weight_decay=0.0)
    params = [p for g, _ in groups for p in g]
    n_visual = int(builder.is_visual.sum())
    t0, hist, report = time.time(), [], {}
    steps = args.stage2_steps
    step = 0
    while step < steps:
        if args.time_budget and step == TIMING_STEPS:
            # fit the schedule to the time budget: the cosine decays to zero at the last step
            per_step = (time.time() - t0) / TIMING_STEPS
            steps = max(TIMING_STEPS + 1, min(steps, int(args.time_budget / per_step)))
            print(f"stage2: {per_step:.3f}s a step, {steps} steps fit the {args.time_budget:.0f}s budget", flush=True)
        for g, (_, lr) in zip(opt.param_groups, groups):
            g["lr"] = lr_at(step, steps, lr)
        idx = torch.randint(len(data), (args.batch2,), generator=gen_t)
        subset = float(torch.rand(1, generator=gen_t)) < SUBSET_SHARE
        keep = random_keep(args.batch2, n_visual, gen_t, args.device) if subset else None
        tower.train()
        with autocast(args.device):
            feats, visual = encode(model, data.images[idx.to(data.images.device)])
            loss, _ = lm_loss(model, builder, visual, [builder.answer_ids(data.truths[i]) for i in idx.tolist()],
                              keep)
        aux, _ = stage1_loss(heads, feats, data.patch[idx.to(data.patch.device)], data.cls[idx.to(data.cls.device)])
        total = loss + AUX_WEIGHT * aux
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        hist.append(loss.item())
        if step % args.log_every == 0 or step == steps - 1:
            print(f"stage2 step {step} lm {np.mean(hist[-args.log_every:]):.4f} aux {aux.item():.3f} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if args.eval_every and (step + 1) % args.eval_every == 0:
            report = eval_stage2(model, builder, val, args)
            print("stage2 val", json.dumps(report), flush=True)
        step += 1
    report = eval_stage2(model, builder, val, args)
    print("stage2 val", json.dumps(report), flush=True)
    return {"steps": steps, "batch": args.batch2, "seconds": round(time.time() - t0, 1), "val": report}


@torch.no_grad()
def greedy(model, builder, visual: torch.Tensor, max_new: int) -> list[list[int]]:
    """Unconstrained greedy answers for a batch (all 576 tokens), with the LM's KV cache."""
    from cloud.models.base import cache_keyword

    emb, pos, _ = batch_inputs(model, builder, visual, [[builder.end]], None)
    lm = model.model.language_model
    out = lm(inputs_embeds=emb, position_ids=pos, use_cache=True)
    cache = out.past_key_values
    nxt = model.lm_head(out.last_hidden_state[:, -1]).argmax(-1)
    answers = [[int(t)] for t in nxt]
    done = nxt == builder.end
    p = pos[:, -1:] + 1
    for _ in range(max_new - 1):
        if bool(done.all()):
            break
        out = lm(inputs_embeds=lm.embed_tokens(nxt[:, None]), position_ids=p, use_cache=True,
                 **{cache_keyword(lm): cache})
        cache = out.past_key_values
        nxt = model.lm_head(out.last_hidden_state[:, -1]).argmax(-1)
        for i, t in enumerate(nxt.tolist()):
            if not done[i]:
                answers[i].append(t)
        done |= nxt == builder.end
        p = p + 1
    return answers


@torch.no_grad()
def eval_stage2(model, builder, val: SceneSet, args) -> dict:
    """Teacher-forced token accuracy and greedy free-running field accuracy / exact match, all 576 tokens."""
    from benchmarks.scenes.scoring import field_scores

    model.eval()
    accs, scores = [], []
    for lo in range(0, len(val), args.batch2):
        idx = list(range(lo, min(len(val), lo + args.batch2)))
        with autocast(args.device):
            _, visual = encode(model, val.images[idx])
            _, acc = lm_loss(model, builder, visual, [builder.answer_ids(val.truths[i]) for i in idx])
            answers = greedy(model, builder, visual, args.max_new)
        accs.append(acc)
        for i, a in zip(idx, answers):
            text = builder.tok.decode([t for t in a if t != builder.end])
            scores.append(field_scores(text, val.truths[i], recipe=args.recipe))
    out = {"token_accuracy": round(float(np.mean(accs)), 4)}
    for k in scores[0]:
        out[k] = round(float(np.mean([s[k] for s in scores])), 4)
    return out


# ----------------------------------------------------------------------------- main
def build(args):
    from cloud.models.bench import vlm as bench_vlm
    from cloud.models.smollm_llava import build_smollm_llava

    base, tok, _ = build_smollm_llava(seed=0)
    model = bench_vlm.build_model(base.config.text_config, base.config.image_token_index)
    model.load_state_dict({k: v for k, v in base.state_dict().items()
                           if not k.startswith(("model.vision_tower.", "model.multi_modal_projector."))},
                          strict=False)
    del base
    for p in model.parameters():
        p.requires_grad_(False)
    model.model.vision_tower.config._attn_implementation = "sdpa"
    model.model.language_model.config._attn_implementation = "sdpa"
    return model.to(args.device), tok


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipe", type=int, default=1, choices=(1, 2), help="scene recipe (2: two-group events)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--train-scenes", type=int, default=20_000)
    ap.add_argument("--val-scenes", type=int, default=128)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--stage1-steps", type=int, default=3000)
    ap.add_argument("--batch1", type=int, default=128)
    ap.add_argument("--lr1", type=float, default=2e-3)
    ap.add_argument("--stage2-steps", type=int, default=2000)
    ap.add_argument("--batch2", type=int, default=32)
    ap.add_argument("--lr2", type=float, default=1e-3)
    ap.add_argument("--lr-lora", type=float, default=1e-3)
    ap.add_argument("--lr-tower", type=float, default=3e-4)
    ap.add_argument("--max-new", type=int, default=0, help="eval answer length (0: 48, recipe 2: 72)")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="fit stage 2's step count to this many seconds, timed on its first steps (0: no limit)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    args.max_new = args.max_new or (48 if args.recipe == 1 else 72)
    task = Task(args.recipe)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    gen_t = torch.Generator().manual_seed(args.seed)
    t_start = time.time()

    from cloud.models.bench import vlm as bench_vlm

    data = SceneSet("train", args.seed, 0, args.train_scenes, args.workers, args.recipe)  # forks before CUDA
    val = SceneSet("val", args.seed, 0, args.val_scenes, args.workers, args.recipe)
    render_s = time.time() - t_start
    print(f"rendered {len(data)} train + {len(val)} val scenes in {render_s:.0f}s", flush=True)
    data, val = data.to(args.device), val.to(args.device)
    model, tok = build(args)
    print(f"model on {args.device} at {time.time() - t_start:.0f}s", flush=True)

    tower = model.model.vision_tower
    heads = Heads(tower.config.hidden_size, task.patch_heads, task.cls_heads).to(args.device)
    for p in tower.parameters():
        p.requires_grad_(True)
    init_positions(tower)
    report1 = train_stage1(tower, heads, data, val, args, gen_t)

    init_projector(model, heads, tok, task.words)
    match_rms(model, data.images[:16], args.device)
    for p in model.model.multi_modal_projector.parameters():
        p.requires_grad_(True)
    lora_params = bench_vlm.add_lora(model)
    model.to(args.device)   # the adapters are made on the CPU; .to keeps the Parameter objects
    builder = SequenceBuilder(tok, model.config.image_token_index, task.frames)
    report2 = train_stage2(model, heads, builder, data, val, args, lora_params, gen_t)

    model = model.to("cpu").float()
    tower.config._attn_implementation = "eager"
    machine = {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "device": args.device}
    if args.device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(0)
    meta = {"recipe_hash": task.scenes.recipe_hash(), "recipe": args.recipe, "seed": args.seed, "commit": Provenance().commit, "stage1": report1, "stage2": report2,
            "render_seconds": round(render_s, 1), "machine": machine,
            "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
            "args": {k: str(v) for k, v in vars(args).items()},
            "training_minutes": round((time.time() - t_start) / 60, 1)}
    out = args.out or (bench_vlm.WEIGHTS if args.recipe == 1 else bench_vlm.WEIGHTS.with_name(WEIGHTS_V2))
    bench_vlm.save_weights(model, out, meta)
    print("saved", out, json.dumps(meta)[:600], flush=True)


if __name__ == "__main__":
    main()
