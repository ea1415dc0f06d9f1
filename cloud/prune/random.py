"""Baseline: a uniformly random subset of the visual tokens (seeded, reproducible)."""
from __future__ import annotations

import torch

from cloud.prune.base import PruneContext, TokenPruner


class RandomPruner(TokenPruner):
    name = "random"

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.config.seed)
        return torch.randperm(ctx.n_visual, generator=gen)[:k].to(ctx.visual_embeds.device)
