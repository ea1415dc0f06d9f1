"""Baseline: diversity-only pruning, DivPrune-style (Alvar et al., CVPR 2025).

DivPrune casts selection as a Max-Min Diversity Problem over cosine distance
of the visual tokens and solves it greedily: start with the token farthest
from all others (largest min-distance), then repeatedly add the token whose
nearest selected token is farthest. No importance signal at all, so it needs
nothing from the LLM.
"""
from __future__ import annotations

import torch

from cloud.prune.base import PruneContext, TokenPruner
from kernels.id_selection.reference import normalize_rows


class DivPrunePruner(TokenPruner):
    name = "divprune"

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:
        feats = ctx.keys if ctx.keys is not None else ctx.visual_embeds
        f = normalize_rows(feats.detach())
        dist = 1.0 - f @ f.T
        n = dist.shape[0]
        dist.fill_diagonal_(float("inf"))
        first = int(torch.argmax(dist.min(dim=1).values))
        dist.fill_diagonal_(0.0)
        picked = torch.zeros(n, dtype=torch.bool, device=f.device)
        out = [first]
        picked[first] = True
        nearest = dist[first].clone()  # distance of every token to its nearest picked token
        for _ in range(k - 1):
            j = int(torch.argmax(nearest.masked_fill(picked, float("-inf"))))
            out.append(j)
            picked[j] = True
            nearest = torch.minimum(nearest, dist[j])
        return torch.tensor(out, dtype=torch.long, device=f.device)
