"""The TokenPruner base class (the runner's `Pruner` seam, cloud/seams.py): which visual tokens go
on to the language model.

A pruner sits between the vision encoder/projector and the language model
(the kvpress shape: a tiny base class, one small file per method). The runner
builds a :class:`PruneContext` for one image (or one frame of a video) from the
adapter's facts (cloud/engine/pruning.py), asks ``pruner.select_batch`` for the
kept visual-token indices, and drops the others with ``PrefillInputs.keep_visual``
(cloud/models/base.py), which keeps every surviving token's ORIGINAL position id
(1-D for LLaVA, 3×B×L M-RoPE for Qwen) so the language model sees the kept tokens
exactly where they were.

Importance signals are optional and may be lazy: text→visual attention needs
a shallow LLM pass, so the runner passes a callable and only methods that
need it (FastV, ID-Selection with ``importance="text"``) pay for it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import torch

from cloud.prune.config import PrunerConfig, resolve_budget
from cloud.prune.reuse import SelectionReuse

Importance = torch.Tensor | Callable[[], torch.Tensor]


@dataclass
class PruneContext:
    """Everything a pruner may look at for one image's visual tokens.

    visual_embeds:   (N, D) projected visual tokens (the LM's input space), in original order.
    text_attention:  (N,) attention the text pays to each visual token at an early LM layer
                     (already reduced over heads and query tokens), or a zero-argument
                     callable computing it lazily (see cloud/prune/attention.py).
    cls_attention:   (N,) the vision encoder's [CLS] attention to each patch, if it has a CLS.
    keys:            (N, Dk) features for similarity (e.g. early-layer keys); default visual_embeds.
    box_prior:       (N,) fraction of each token's patch covered by the edge's boxes, in [0, 1]
                     (see cloud/prune/box_prior.py).
    budget:          per-request override of the configured budget (count or ratio).
    stream_id:       camera id; enables selection reuse across consecutive frames.
    """

    visual_embeds: torch.Tensor
    text_embeds: torch.Tensor | None = None
    text_ids: torch.Tensor | None = None
    text_attention: Importance | None = None
    cls_attention: torch.Tensor | None = None
    keys: torch.Tensor | None = None
    box_prior: torch.Tensor | None = None
    budget: int | float | None = None
    stream_id: str | None = None
    _text_attention_cache: torch.Tensor | None = field(default=None, init=False, repr=False)

    @property
    def n_visual(self) -> int:
        return int(self.visual_embeds.shape[0])

    def text_importance(self) -> torch.Tensor | None:
        """The (N,) text→visual attention, computing it on first use if it is lazy."""
        if self._text_attention_cache is None and self.text_attention is not None:
            att = self.text_attention() if callable(self.text_attention) else self.text_attention
            self._text_attention_cache = att.detach().float().reshape(-1)
        return self._text_attention_cache


class TokenPruner(ABC):
    """Chooses which visual tokens survive. Stateless except for optional per-camera reuse."""

    name: str = "base"
    needs_text_attention: bool = False  # adapters may skip the shallow pass when False

    def __init__(self, config: PrunerConfig | None = None):
        self.config = config or PrunerConfig(method=self.name)  # type: ignore[arg-type]
        self.reuse = (SelectionReuse(self.config.reuse_similarity, self.config.reuse_max_frames)
                      if self.config.reuse_across_frames else None)
        self.last_reused = False  # whether the last select() reused a previous frame's selection

    def budget_for(self, ctx: PruneContext) -> int:
        budget = ctx.budget if ctx.budget is not None else self.config.budget
        return resolve_budget(budget, ctx.n_visual)

    def select(self, ctx: PruneContext) -> torch.LongTensor:
        """Sorted (ascending, i.e. original order) indices of the kept visual tokens."""
        return self.select_batch([ctx])[0]

    def select_batch(self, ctxs: list[PruneContext]) -> list[torch.LongTensor]:
        """`select` for every image of a prefill batch; the images that need a fresh
        selection go to `_select_many` together (one batched launch where the method has one)."""
        out: list[torch.LongTensor | None] = [None] * len(ctxs)
        todo: list[tuple[int, int]] = []   # (index into ctxs, k)
        self.last_reused = False
        for i, ctx in enumerate(ctxs):
            k = self.budget_for(ctx)
            if k >= ctx.n_visual:
                out[i] = torch.arange(ctx.n_visual, dtype=torch.long, device=ctx.visual_embeds.device)
                continue
            if self.reuse is not None and ctx.stream_id is not None:
                cached = self.reuse.lookup(ctx.stream_id, ctx.visual_embeds, k)
                if cached is not None:
                    self.last_reused = True
                    out[i] = cached
                    continue
            todo.append((i, k))
        if todo:
            picks = self._select_many([ctxs[i] for i, _ in todo], [k for _, k in todo])
            for (i, k), chosen in zip(todo, picks):
                kept = torch.sort(chosen.to(torch.long)).values
                ctx = ctxs[i]
                if self.reuse is not None and ctx.stream_id is not None:
                    self.reuse.store(ctx.stream_id, ctx.visual_embeds, k, kept)
                out[i] = kept
        return out  # type: ignore[return-value]

    def _select_many(self, ctxs: list[PruneContext], ks: list[int]) -> list[torch.Tensor]:
        """`_select` for several images; methods with a batched implementation override it."""
        return [self._select(ctx, k) for ctx, k in zip(ctxs, ks)]

    @abstractmethod
    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:
        """Return exactly k distinct indices in [0, N) (any order); k < N here."""
