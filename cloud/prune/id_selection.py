"""ID-Selection: importance-diversity visual token selection (arXiv 2604.05601).

Importance-only pruning (FastV) keeps clusters of near-duplicate tokens around
the salient object; diversity-only pruning (DivPrune) spends the budget on
background. ID-Selection takes the most important token, then lowers the score
of every token in proportion to its similarity to that pick, and repeats:
    S_j <- S_j - exp(-gamma * d_j^2) * S_best,   d_j = 1 - cos(x_j, x_best).
Choices where the paper is vague (kept configurable in PrunerConfig):
- importance: [CLS] attention when the vision tower has one, else the text's
  attention at LLM layer 2 (last instruction token by default); boxes from the
  edge multiply it (cloud/prune/importance.py);
- d_j on the projected visual embeddings by default (free; early-layer keys
  need the shallow pass), gamma = 20;
- kept tokens keep their original order and position ids (cloud/prune/base.py).
With gamma = 0 every score drops by the same amount each step, so the picks are
the plain top-k: ID-Selection reduces to FastV on the same importance.
The loop runs as a Triton kernel on CUDA and as the torch reference elsewhere.
"""
from __future__ import annotations

import torch

from cloud.prune.base import PruneContext, TokenPruner
from cloud.prune.importance import importance_scores
from kernels.id_selection import id_select


class IdSelectionPruner(TokenPruner):
    name = "id_selection"

    @property
    def needs_text_attention(self) -> bool:  # type: ignore[override]
        return self.config.importance == "text" or self.config.similarity == "keys"

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:
        scores = importance_scores(ctx, self.config, prefer="cls")
        feats = ctx.keys if (self.config.similarity == "keys" and ctx.keys is not None) else ctx.visual_embeds
        return id_select(scores, feats, k, self.config.gamma)
