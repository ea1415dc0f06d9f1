"""Baseline: SnapKV (Li et al., 2024), as kvpress's SnapKVPress does it.

The attention of the prompt's last `observation_window` queries (mean over the window and
over each KV head's query group) scores every earlier token; scores are smoothed with an
average pool of `pool_kernel` tokens so neighbours of a salient token survive with it; each
head keeps the window plus its top-scoring tokens. One budget for every layer and head,
chosen among all tokens (text included): matched in tokens to the other presses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cloud.kvcache.base import KVPress, LayerPlan, keep_sorted, top_columns, visual_budget


class SnapKVPress(KVPress):
    name = "snapkv"

    def plan(self, layer, keys, layouts) -> LayerPlan:
        att = self.window_attention(layer)            # [B, H, W, T]
        w, k_pool = att.shape[2], self.config.pool_kernel
        plain = [[] for _ in range(keys.shape[1])]
        for b, row in enumerate(layouts):
            n = row.real.numel()
            n_keep = min(n, n - row.n_visual + visual_budget(self.config.budget, row.n_visual))
            rows_ok = torch.arange(n - w, n, device=att.device) >= 0
            scores = att[b][:, rows_ok].mean(1)                                   # [H, T]
            scores = F.avg_pool1d(scores[None], k_pool, stride=1, padding=k_pool // 2,
                                  count_include_pad=False)[0][:, :scores.shape[1]]
            window = row.real[max(0, n - w):]
            rest = row.real[:max(0, n - w)]
            for h in range(keys.shape[1]):
                plain[h].append(keep_sorted(window, top_columns(scores[h], rest, n_keep - window.numel())))
        return LayerPlan(plain=plain)
