"""Baseline: keep every visual token (the unpruned model)."""
from __future__ import annotations

import torch

from cloud.prune.base import PruneContext, TokenPruner


class NoPruner(TokenPruner):
    name = "none"

    def budget_for(self, ctx: PruneContext) -> int:
        return ctx.n_visual

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:  # pragma: no cover - never called
        return torch.arange(ctx.n_visual)
