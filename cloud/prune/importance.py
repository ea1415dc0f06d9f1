"""Per-token importance shared by the attention-based pruners (FastV, ID-Selection).

Sources (PrunerConfig.importance): the text's attention to each visual token at an
early LLM layer ("text"), or the vision encoder's [CLS] attention ("cls"); "auto"
takes [CLS] when the model has one (LLaVA-1.5's CLIP does: no extra LLM pass,
which is what lets pruning happen before the LLM and cut >97% of its FLOPs),
otherwise text attention. The edge's boxes multiply the score of the tokens
they cover: s * (1 + box_prior_weight * coverage), a prior, not a mask, so a
budget larger than the boxes still spends the rest on the background.
"""
from __future__ import annotations

import torch

from cloud.prune.base import PruneContext
from cloud.prune.config import PrunerConfig


def importance_scores(ctx: PruneContext, config: PrunerConfig, prefer: str = "cls") -> torch.Tensor:
    """(N,) float32 importance; `prefer` decides what "auto" means for the caller."""
    source = config.importance
    if source == "auto":
        order = ["cls", "text"] if prefer == "cls" else ["text", "cls"]
        available = {"cls": ctx.cls_attention is not None, "text": ctx.text_attention is not None}
        source = next((s for s in order if available[s]), None)
        if source is None:
            raise ValueError("importance needs ctx.text_attention or ctx.cls_attention; the adapter gave neither")
    if source == "cls":
        if ctx.cls_attention is None:
            raise ValueError("importance='cls' but this model/adapter gives no [CLS] attention")
        scores = ctx.cls_attention.detach().float().reshape(-1)
    else:
        scores = ctx.text_importance()
        if scores is None:
            raise ValueError("importance='text' but the adapter gave no text attention")
    if scores.shape[0] != ctx.n_visual:
        raise ValueError(f"importance has {scores.shape[0]} entries for {ctx.n_visual} visual tokens")
    if ctx.box_prior is not None and config.box_prior_weight > 0:
        prior = ctx.box_prior.to(scores.device).float().reshape(-1)
        scores = scores * (1.0 + config.box_prior_weight * prior)
    return scores
