"""Train the vision side of `vigil-bench-vlm` on CPU in minutes (deterministic given --seed).

Backpropagating through SmolLM2 costs ~1 s per 150-token sequence here, far too
slow to teach a vision tower through the language model. So (as LLaVA trains
its projector and tower in separate stages) we train in two stages:

Stage 1, tower only (no language model): fresh training scenes every step.
  Per-patch targets from the scene's instance mask: a patch >= OBJECT_COVER
  covered by an object learns the object's class, colour, its group's count,
  place and action; an uncovered patch learns "background"; a partly covered one
  is ignored. [CLS] learns the whole answer (so its attention becomes saliency).
  The heads are linear on the tower's output, i.e. on exactly the features the
  projector reads.
Stage 2, projector + rank-8 LoRA on the LM's q/v (cloud/models/bench_vlm.py;
  projector-only did not learn in the steps this CPU affords): each sequence is the
  serving prompt with only some of its visual tokens (the object tokens, a
  random share of them, plus a random number of background tokens, all at their
  original position ids; every FULL_EVERY-th sequence keeps all 576), then the
  teacher-forced answer; the loss is the answer's next-token loss. Training on
  token subsets teaches the model to answer from whatever survives pruning,
  which is how the pruning papers' base models behave too (their tokens carry
  context); it does not favour one pruner: the subsets are random.
  The projector starts from the stage-1 heads: its first layer's first rows are
  the heads, and the second layer maps each head output onto the embedding of
  the answer word it stands for, so the language model starts from word-like
  tokens and the training only has to refine them.
KNOWN PROBLEM (the committed weights): stage 2's loss covered the answer's value
  tokens only, on the reasoning that the grammar forces the rest. It does not:
  the threat-level digit and the choice between '[{' and '[]' are open, and the
  free-running model closes `objects` empty and writes colour+class into the
  summary (vlm_eval.json: below chance). `--loss-on all` trains on every answer
  token; it was not run for lack of CPU time.
Both stages print progress and measure on validation scenes; the weights go to
cloud/models/weights/ with the scene recipe's hash and the training cost.
Run: python -m benchmarks.scenes.train [--stage1-steps N --stage2-steps N].
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.scenes import generator as gen
from benchmarks.scenes.scoring import fields_of

OBJECT_COVER = 0.2            # share of a patch's pixels an object must cover to label the patch
GRID = 24
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)   # CLIPImageProcessor's
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
IGNORE = -100
# Patch heads (background is class 0) and [CLS] heads ("none" is index 0 where a scene can be empty).
PATCH_HEADS = {"class": 1 + len(gen.CLASSES), "colour": len(gen.COLOURS), "count": gen.MAX_COUNT,
               "position": len(gen.POSITIONS), "action": len(gen.ACTIONS)}
CLS_HEADS = {"class": 1 + len(gen.CLASSES), "colour": 1 + len(gen.COLOURS), "count": 1 + gen.MAX_COUNT,
             "position": 1 + len(gen.POSITIONS), "action": 1 + len(gen.ACTIONS)}
BACKGROUND_FLAT_WEIGHT = 0.2
LOSS_ON_VALUES_ONLY = True    # set by --loss-on (values: what trained the committed weights)
FULL_EVERY = 0                # stage 2: every n-th sequence keeps all 576 visual tokens (0: never; CPU)
MAX_OBJECT_TOKENS = 24
MAX_BACKGROUND_TOKENS = 40


def pixels(images: list[np.ndarray]) -> torch.Tensor:
    """What CLIPImageProcessor gives for 336x336 RGB uint8 (no resize needed): (B, 3, 336, 336)."""
    x = (np.stack(images).astype(np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def scene_labels(scene: gen.Scene) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch targets (576, 5) and [CLS] targets (5,) for one scene."""
    cover = (scene.mask > 0).reshape(GRID, 14, GRID, 14).mean(axis=(1, 3)).reshape(-1)
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


class Heads(torch.nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.patch = torch.nn.Linear(width, sum(PATCH_HEADS.values()))
        self.cls = torch.nn.Linear(width, sum(CLS_HEADS.values()))

    @staticmethod
    def split(logits: torch.Tensor, sizes: dict[str, int]) -> list[torch.Tensor]:
        return list(torch.split(logits, list(sizes.values()), dim=-1))


@torch.no_grad()
def init_positions(tower) -> None:
    """2-D sine-cosine position embeddings (MAE's init) so place is learnable from step one."""
    emb = tower.embeddings.position_embedding.weight   # (1 + 576, W)
    width = emb.shape[1]
    quarter = width // 4
    freqs = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(GRID, dtype=torch.float32), torch.arange(GRID, dtype=torch.float32),
                            indexing="ij")
    parts = []
    for coord in (ys.reshape(-1), xs.reshape(-1)):
        ang = coord[:, None] * freqs[None]
        parts += [torch.sin(ang), torch.cos(ang)]
    grid = torch.cat(parts, dim=1)
    emb[1:, :grid.shape[1]] = grid
    emb[1:, grid.shape[1]:] = 0.0
    emb[0] = 0.0


def tower_features(tower, px: torch.Tensor) -> torch.Tensor:
    """(B, 577, W) hidden states at the layer LLaVA reads (the last), [CLS] first."""
    return tower(px, output_hidden_states=True).hidden_states[-1]


def stage1_loss(heads: Heads, feats: torch.Tensor, patch_t: torch.Tensor, cls_t: torch.Tensor):
    loss, accs = 0.0, {}
    background = patch_t[..., 0] == 0
    for name, lg, t in zip(PATCH_HEADS, heads.split(heads.patch(feats[:, 1:]), PATCH_HEADS), patch_t.unbind(-1)):
        valid = t != IGNORE
        if valid.any():
            loss = loss + F.cross_entropy(lg[valid], t[valid])
            accs[f"patch_{name}"] = (lg[valid].argmax(-1) == t[valid]).float().mean().item()
        if name != "class" and background.any():
            # background says nothing about attributes: flat logits there, so the projector
            # (initialised from these heads) does not turn background into attribute words
            loss = loss - BACKGROUND_FLAT_WEIGHT * F.log_softmax(lg[background], -1).mean()
    for name, lg, t in zip(CLS_HEADS, heads.split(heads.cls(feats[:, 0]), CLS_HEADS), cls_t.unbind(-1)):
        loss = loss + F.cross_entropy(lg, t)
        accs[f"cls_{name}"] = (lg.argmax(-1) == t).float().mean().item()
    return loss, accs


def batch(split: str, seed: int, start: int, n: int):
    scenes = gen.make_scenes(split, n, seed=seed, start=start)
    labels = [scene_labels(s) for s in scenes]
    return (pixels([s.image for s in scenes]), torch.from_numpy(np.stack([p for p, _ in labels])),
            torch.from_numpy(np.stack([c for _, c in labels])), scenes)


def train_stage1(tower, heads, args) -> dict:
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr1, weight_decay=0.01)
    val = batch("val", args.seed, 0, args.val_scenes)
    t0 = time.time()
    for step in range(args.stage1_steps):
        lr = args.lr1 * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(math.pi * step / args.stage1_steps))
        for g in opt.param_groups:
            g["lr"] = lr
        px, pt, ct, _ = batch("train", args.seed, step * args.batch1, args.batch1)
        tower.train()
        loss, accs = stage1_loss(heads, tower_features(tower, px), pt, ct)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0 or step == args.stage1_steps - 1:
            tower.eval()
            with torch.no_grad():
                _, vacc = stage1_loss(heads, tower_features(tower, val[0]), val[1], val[2])
            print(f"stage1 step {step} loss {loss.item():.3f} {time.time() - t0:.0f}s val "
                  + " ".join(f"{k}={v:.2f}" for k, v in vacc.items()), flush=True)
    return {"steps": args.stage1_steps, "batch": args.batch1, "seconds": round(time.time() - t0, 1),
            "val": vacc}


# ----------------------------------------------------------------------------- stage 2
def answer_text(truth: dict) -> str:
    return json.dumps(truth, separators=(",", ":"))


class SequenceBuilder:
    """Prompt ids (serving layout) and the answer ids; picks visual-token subsets."""

    def __init__(self, tok, image_token_id: int):
        from cloud.models.bench_vlm_prompt import QUESTION, SYSTEM

        prompt = tok.apply_chat_template(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "<image>\n" + QUESTION}],
            tokenize=False, add_generation_prompt=True)
        prompt = prompt.replace("<image>", "<image>" * GRID * GRID)
        self.ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids[0]
        self.visual = torch.nonzero(self.ids == image_token_id).squeeze(1)
        self.text = torch.nonzero(self.ids != image_token_id).squeeze(1)
        self.tok = tok
        self.end = tok.convert_tokens_to_ids("<|im_end|>")

    def answer_ids(self, truth: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Answer ids (+ <|im_end|>) and a mask of the value tokens: the grammar forces the keys
        and punctuation at serving time, so only the values (and the end) carry the loss."""
        text = answer_text(truth)
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        spans = []
        for value in (truth["summary"], truth["action"], *(o["label"] for o in truth["objects"])):
            start = text.find(f'"{value}"')
            spans.append((start + 1, start + 1 + len(value)))
        for o in truth["objects"]:
            start = text.find(f'"count":{o["count"]}') + len('"count":')
            spans.append((start, start + len(str(o["count"]))))
        is_value = [any(a < e and b > s for s, e in spans) for a, b in enc["offset_mapping"]]
        return torch.tensor(enc["input_ids"] + [self.end]), torch.tensor(is_value + [True])

    def pick(self, scene: gen.Scene, rng: random.Random, full: bool) -> torch.Tensor:
        """Sorted visual-token indices (0..575) to keep."""
        if full:
            return torch.arange(GRID * GRID)
        cover = (scene.mask > 0).reshape(GRID, 14, GRID, 14).mean(axis=(1, 3)).reshape(-1)
        obj = [i for i in range(GRID * GRID) if cover[i] >= OBJECT_COVER]
        rest = [i for i in range(GRID * GRID) if cover[i] < OBJECT_COVER]
        if obj:
            obj = rng.sample(obj, max(1, min(MAX_OBJECT_TOKENS, int(len(obj) * rng.uniform(0.1, 1.0)))))
        bg = rng.sample(rest, rng.randint(4, MAX_BACKGROUND_TOKENS))
        return torch.tensor(sorted(obj + bg))


def word_ids(tok, value: str) -> list[int]:
    return tok(value, add_special_tokens=False).input_ids


@torch.no_grad()
def init_projector(model, heads: Heads, tok) -> None:
    """First layer: the patch heads in the first rows; second layer: head output -> answer-word embedding."""
    proj = model.model.multi_modal_projector
    emb = model.model.language_model.embed_tokens.weight
    values = (["nothing"] + list(gen.CLASSES) + list(gen.COLOURS) + [str(c) for c in range(1, gen.MAX_COUNT + 1)]
              + list(gen.POSITIONS) + list(gen.ACTIONS))
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
def match_rms(model, scenes) -> None:
    """Scale the projector's output to the RMS of SmolLM2's token embeddings (as smollm_llava does)."""
    text_rms = model.model.language_model.embed_tokens.weight.pow(2).mean().sqrt()
    feats = tower_features(model.model.vision_tower, pixels([s.image for s in scenes]))[:, 1:]
    out = model.model.multi_modal_projector(feats)
    scale = text_rms / out.pow(2).mean().sqrt()
    model.model.multi_modal_projector.linear_2.weight.mul_(scale)
    model.model.multi_modal_projector.linear_2.bias.mul_(scale)


def lm_loss(model, builder: SequenceBuilder, feats: torch.Tensor, keep: torch.Tensor, truth: dict):
    """Teacher-forced answer loss for one scene's kept visual tokens (feats: (577, W) tower output)."""
    lm = model.model.language_model
    visual = model.model.multi_modal_projector(feats[1:][keep])
    ans, is_value = builder.answer_ids(truth)
    seq_pos = torch.cat([builder.text, builder.visual[keep]]).sort().values
    ids = builder.ids[seq_pos]
    embeds = lm.embed_tokens(ids).clone()
    is_vis = torch.isin(seq_pos, builder.visual)
    embeds[is_vis] = visual
    n_prompt = len(builder.ids)
    full_emb = torch.cat([embeds, lm.embed_tokens(ans[:-1])])
    positions = torch.cat([seq_pos, torch.arange(n_prompt, n_prompt + len(ans) - 1)])
    hidden = lm(inputs_embeds=full_emb[None], position_ids=positions[None], use_cache=False).last_hidden_state
    logits = model.lm_head(hidden[0, len(seq_pos) - 1:])
    if not LOSS_ON_VALUES_ONLY:
        is_value = torch.ones_like(is_value)
    return F.cross_entropy(logits[is_value], ans[is_value]), (logits[is_value].argmax(-1) == ans[is_value]).float()


def train_stage2(model, builder, args, lora_params) -> dict:
    proj = model.model.multi_modal_projector
    opt = torch.optim.Adam([{"params": list(proj.parameters()), "lr": args.lr2},
                            {"params": lora_params, "lr": args.lr_lora}])
    base_lrs = [args.lr2, args.lr_lora]
    tower = model.model.vision_tower
    rng = random.Random(args.seed)
    val = gen.make_scenes("val", args.val_lm_scenes, seed=args.seed, start=10_000)
    t0 = time.time()
    hist = []
    for step in range(args.stage2_steps):
        decay = min(1.0, (step + 1) / 10) * 0.5 * (1 + math.cos(math.pi * step / args.stage2_steps))
        for g, base_lr in zip(opt.param_groups, base_lrs):
            g["lr"] = base_lr * decay
        scene = gen.render_scene("train", args.seed, 1_000_000 + step)
        with torch.no_grad():
            feats = tower_features(tower, pixels([scene.image]))[0]
        keep = builder.pick(scene, rng, full=bool(FULL_EVERY) and step % FULL_EVERY == FULL_EVERY - 1)
        loss, _ = lm_loss(model, builder, feats, keep, scene.truth)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(proj.parameters()) + lora_params, 1.0)
        opt.step()
        hist.append(loss.item())
        if step % 20 == 0 or step == args.stage2_steps - 1:
            print(f"stage2 step {step} loss(mean20) {np.mean(hist[-20:]):.3f} {time.time() - t0:.0f}s", flush=True)
        if (step + 1) % args.eval_every == 0 or step == args.stage2_steps - 1:
            acc = eval_teacher_forced(model, builder, val)
            print(f"stage2 val (teacher-forced value-token accuracy) {acc:.3f}", flush=True)
    return {"steps": args.stage2_steps, "seconds": round(time.time() - t0, 1), "val_token_accuracy": acc}


@torch.no_grad()
def eval_teacher_forced(model, builder, scenes) -> float:
    """Answer-token accuracy on token subsets like training's (all 576 costs ~20 s a scene here)."""
    tower = model.model.vision_tower
    accs = []
    rng = random.Random(0)
    for s in scenes:
        feats = tower_features(tower, pixels([s.image]))[0]
        _, correct = lm_loss(model, builder, feats, builder.pick(s, rng, full=False), s.truth)
        accs.append(correct.mean().item())
    return float(np.mean(accs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage1-steps", type=int, default=400)
    ap.add_argument("--batch1", type=int, default=8)
    ap.add_argument("--lr1", type=float, default=2e-3)
    ap.add_argument("--val-scenes", type=int, default=24)
    ap.add_argument("--stage2-steps", type=int, default=200)
    ap.add_argument("--lr2", type=float, default=1e-3)
    ap.add_argument("--lr-lora", type=float, default=2e-3)
    ap.add_argument("--val-lm-scenes", type=int, default=6)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stage1-checkpoint", type=Path, default=Path(".cache/bench_vlm_stage1.pt"),
                    help="stage-1 result; reused (stage 1 skipped) when it exists and matches the recipe")
    ap.add_argument("--loss-on", choices=["values", "all"], default="values",
                    help="stage-2 loss on the answer's value tokens (committed weights) or on every token")
    ap.add_argument("--stage1-only", action="store_true", help="stop after stage 1 (its checkpoint is kept)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    global LOSS_ON_VALUES_ONLY
    LOSS_ON_VALUES_ONLY = args.loss_on == "values"
    torch.use_deterministic_algorithms(True, warn_only=True)

    from cloud.models import bench_vlm
    from cloud.models.smollm_llava import build_smollm_llava

    base, tok, _ = build_smollm_llava(seed=0)
    model = bench_vlm.build_model(base.config.text_config, base.config.image_token_index)
    model.load_state_dict({k: v for k, v in base.state_dict().items()
                           if not k.startswith(("model.vision_tower.", "model.multi_modal_projector."))},
                          strict=False)
    del base
    for p in model.parameters():
        p.requires_grad_(False)
    tower = model.model.vision_tower
    tower.config._attn_implementation = "sdpa"   # same math as eager, faster to train
    heads = Heads(tower.config.hidden_size)
    key = {"recipe": gen.recipe_hash(), "version": 2, "seed": args.seed, "steps": args.stage1_steps, "batch": args.batch1,
           "lr": args.lr1, "arch": 1}  # the tower did not change in arch 2 (LoRA added)
    ck = args.stage1_checkpoint
    if ck.exists() and torch.load(ck, weights_only=False)["key"] == key:
        saved = torch.load(ck, weights_only=False)
        tower.load_state_dict(saved["tower"])
        heads.load_state_dict(saved["heads"])
        report1 = saved["report"]
        print("stage1: reused", ck, report1, flush=True)
    else:
        for p in tower.parameters():
            p.requires_grad_(True)
        init_positions(tower)
        report1 = train_stage1(tower, heads, args)
        ck.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "tower": tower.state_dict(), "heads": heads.state_dict(), "report": report1}, ck)
    if args.stage1_only:
        return
    for p in tower.parameters():
        p.requires_grad_(False)
    tower.eval()
    init_projector(model, heads, tok)
    match_rms(model, gen.make_scenes("train", 8, seed=args.seed, start=2_000_000))
    proj = model.model.multi_modal_projector
    for p in proj.parameters():
        p.requires_grad_(True)
    builder = SequenceBuilder(tok, model.config.image_token_index)
    lora_params = bench_vlm.add_lora(model)
    report2 = train_stage2(model, builder, args, lora_params)
    tower.config._attn_implementation = "eager"
    meta = {"recipe_hash": gen.recipe_hash(), "seed": args.seed, "stage1": report1, "stage2": report2,
            "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads},
            "args": {k: str(v) for k, v in vars(args).items()},
            "training_minutes": round((report1["seconds"] + report2["seconds"]) / 60, 1)}
    out = args.out or bench_vlm.WEIGHTS
    bench_vlm.save_weights(model, out, meta)
    print("saved", out, json.dumps(meta)[:400], flush=True)


if __name__ == "__main__":
    main()
