"""Baseline: FastV-style importance-only pruning (Chen et al., ECCV 2024).

Keep the k visual tokens the text attends to most at an early LLM layer
(layer 2 by default, FastV's K=2). "auto" importance here means text
attention first, as in FastV; [CLS] attention is used only if asked for or if
there is no text signal. Unlike FastV we prune before the LLM rather than
inside it (one code path for every pruner; the shallow pass is measured as
selection overhead).
"""
from __future__ import annotations

import torch

from cloud.prune.base import PruneContext, TokenPruner
from cloud.prune.importance import importance_scores


class FastVPruner(TokenPruner):
    name = "fastv"
    needs_text_attention = True

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:
        scores = importance_scores(ctx, self.config, prefer="text")
        return torch.topk(scores, k).indices
