"""Answering scenes with the served model: one engine run per arm, answers scored against truth.

Every arm goes through the product path: `DescriptionEngine` (continuous
batching, xgrammar-constrained JSON) on the `vigil-bench-vlm` adapter, with the
arm's token pruner between projector and language model. The adapter is loaded
once and shared by all arms. A request is one image (recipe 1) or a list of frames of one
event (recipe 2: several images in one request, as the edge sends an event's key frames).
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from benchmarks.scenes.scoring import field_scores, mean_scores
from cloud.prune.base import PruneContext, TokenPruner
from cloud.prune.config import PrunerConfig

MODEL = "vigil-bench-vlm"
# The longest answer is ~34 tokens; the engine starts steering to close `close_reserve`
# (~20) tokens before the limit, so the limit leaves that reserve above the longest answer.
MAX_NEW_TOKENS = 64
# Recipe 2's answers list two objects (~50 tokens): the same reserve above the longest.
MAX_NEW_TOKENS_V2 = 80
BATCH = 16
GRID = 24
PATCH = 14


# Where the scene benchmarks run the model: "cpu" (default) or a CUDA device on a GPU machine.
DEVICE = os.environ.get("VIGIL_BENCH_DEVICE", "cpu")


def engine_config(pruner: PrunerConfig | None = None, threads: int = 2, max_new_tokens: int = MAX_NEW_TOKENS):
    from cloud.engine import EngineConfig

    return EngineConfig(model=MODEL, max_new_tokens=max_new_tokens, max_batch_size=BATCH, device=DEVICE,
                        max_queue=100_000, torch_threads=threads, pruner=pruner or PrunerConfig())


def load_adapter(threads: int = 2):
    from cloud.models.registry import load_adapter as load

    torch.set_num_threads(threads)
    return load(engine_config(threads=threads))


def answer_arms(adapter: Any, arms: dict[str, TokenPruner | None], images: list,
                threads: int = 2, max_new_tokens: int = MAX_NEW_TOKENS) -> tuple[dict[str, list[str]], dict]:
    """Every image under every arm's pruner, all in ONE engine run (full batches, no idle rows).

    Requests are interleaved scene by scene (arm A scene 0, arm B scene 0, ...), and a
    `RoutingPruner` gives each request its arm's pruner by camera id.
    """
    ids, imgs = [], []
    for i, im in enumerate(images):
        for arm in arms:
            ids.append(f"{arm}|{i}")
            imgs.append(im)
    texts, stats = answer_images(adapter, imgs, pruner=RoutingPruner(arms), ids=ids, threads=threads,
                                 max_new_tokens=max_new_tokens)
    out = {arm: [""] * len(images) for arm in arms}
    for rid, text in zip(ids, texts):
        arm, i = rid.rsplit("|", 1)
        out[arm][int(i)] = text
    return out, stats


def answer_images(adapter: Any, images: list, pruner: TokenPruner | None = None,
                  ids: list[str] | None = None, threads: int = 2,
                  max_new_tokens: int = MAX_NEW_TOKENS) -> tuple[list[str], dict]:
    """Raw answers (\"\" where the engine failed) for `images` (each one image or a list of
    frames: one request), in order, and run stats."""
    from cloud.engine import DescribeRequest, DescriptionEngine

    ids = ids or [f"s{i}" for i in range(len(images))]
    cfg = engine_config(pruner.config if pruner is not None else None, threads, max_new_tokens)

    async def run():
        engine = DescriptionEngine(cfg, adapter=adapter, pruner=pruner).start()
        await engine.ready()
        t0 = time.perf_counter()
        reqs = [DescribeRequest(request_id=i, camera_id=i, event_id=i,
                                images=list(im) if isinstance(im, (list, tuple)) else [im])
                for i, im in zip(ids, images)]
        results = await asyncio.gather(*[engine.describe(r) for r in reqs], return_exceptions=True)
        wall = time.perf_counter() - t0
        await engine.close()
        return results, wall

    results, wall = asyncio.run(run())
    texts, failures, visual, generated = [], 0, [], []
    for r in results:
        if isinstance(r, BaseException):
            failures += 1
            texts.append("")
        else:
            texts.append(r.text)
            visual.append(r.visual_tokens)
            generated.append(r.generated_tokens)
    return texts, {"wall_s": round(wall, 2), "failures": failures,
                   "visual_tokens_mean": float(np.mean(visual)) if visual else 0.0,
                   "generated_tokens_mean": float(np.mean(generated)) if generated else 0.0}


def score(texts: list[str], truths: list[dict], recipe: int = 1) -> dict[str, float]:
    return mean_scores((field_scores(t, truth, recipe) for t, truth in zip(texts, truths)), recipe)


def derangement(n: int, seed: int = 0) -> list[int]:
    """A permutation with no fixed point: scene i is paired with another scene's answer."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if n < 2 or not np.any(perm == np.arange(n)):
            return [int(p) for p in perm]


def outside_box_keep(arm: str, index: int, frame_boxes: list[list[list[int]]]) -> dict[str, torch.Tensor]:
    """KeepListPruner entries of one request: the engine prunes each image of a request apart,
    as stream "<camera>#<frame>" when there are several, so each frame keeps its own outside patches."""
    if len(frame_boxes) == 1:
        return {f"{arm}|{index}": outside_box_tokens(frame_boxes[0])}
    return {f"{arm}|{index}#{f}": outside_box_tokens(b) for f, b in enumerate(frame_boxes)}


def outside_box_tokens(boxes: list[list[int]]) -> torch.Tensor:
    """Indices of the 24x24 patches that touch no box (boxes in 336-px pixels)."""
    keep = np.ones((GRID, GRID), bool)
    for x1, y1, x2, y2 in boxes:
        keep[max(0, y1 // PATCH):min(GRID, y2 // PATCH + 1), max(0, x1 // PATCH):min(GRID, x2 // PATCH + 1)] = False
    return torch.from_numpy(np.flatnonzero(keep.reshape(-1)))


class KeepListPruner(TokenPruner):
    """A control, not a method: keeps a fixed token list per request (looked up by camera id)."""

    name = "keep_list"

    def __init__(self, keep: dict[str, torch.Tensor]):
        super().__init__(PrunerConfig(method="none"))
        self.keep = keep

    def select(self, ctx: PruneContext) -> torch.LongTensor:
        kept = self.keep[ctx.stream_id]
        return kept if len(kept) else torch.tensor([0])  # at least one token: the corner patch

    def select_batch(self, ctxs: list[PruneContext]) -> list[torch.LongTensor]:
        return [self.select(ctx) for ctx in ctxs]   # the engine selects a batch at a time

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:  # pragma: no cover - select() overrides
        raise NotImplementedError


class RoutingPruner(TokenPruner):
    """Benchmark plumbing: each request gets the pruner of its arm (camera id "<arm>|<scene>").

    Its own config asks the adapter for (lazy) text attention, so arms with text importance
    get it; arms that never ask never pay for the shallow pass. The adapter offers early-layer
    keys only when the config it sees asks for them, so any arm with `similarity="keys"` makes
    the router ask (else that arm would silently compare projected embeddings instead).
    """

    name = "routing"

    def __init__(self, arms: dict[str, TokenPruner | None]):
        keys = any(p is not None and p.config.similarity == "keys" for p in arms.values())
        super().__init__(PrunerConfig(method="none", importance="text", similarity="keys" if keys else "embeds"))
        self.arms = arms

    def select(self, ctx: PruneContext) -> torch.LongTensor:
        return self.select_batch([ctx])[0]

    def select_batch(self, ctxs: list[PruneContext]) -> list[torch.LongTensor]:
        """The engine selects a prefill batch at a time: each request goes to its arm's pruner
        (grouped per arm, so an arm with a batched selection still gets one call)."""
        out: list[torch.LongTensor | None] = [None] * len(ctxs)
        by_arm: dict[str, list[int]] = {}
        for i, ctx in enumerate(ctxs):
            by_arm.setdefault(ctx.stream_id.rsplit("|", 1)[0], []).append(i)
        for arm, idx in by_arm.items():
            pruner = self.arms[arm]
            if pruner is None:
                picks = [torch.arange(ctxs[i].n_visual) for i in idx]
            else:   # keys reach only the arms that asked (DivPrune would take them over embeddings)
                own = [ctxs[i] if pruner.config.similarity == "keys" else replace(ctxs[i], keys=None) for i in idx]
                picks = pruner.select_batch(own)
            for i, kept in zip(idx, picks):
                out[i] = kept
        return out

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:  # pragma: no cover - select() overrides
        raise NotImplementedError
