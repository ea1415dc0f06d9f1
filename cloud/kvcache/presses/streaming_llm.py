"""Baseline: StreamingLLM (Xiao et al., ICLR 2024): attention sinks + the most recent tokens.

Every head keeps the first `sinks` tokens and the most recent ones, positions only, so
the token count matches the other presses: text tokens + budget x visual tokens per
head. On our prompts (frames, then the question) that keeps the question and the last
frame's tail, and drops the system prompt and the earlier frames.
"""
from __future__ import annotations

from cloud.kvcache.base import KVPress, LayerPlan, keep_sorted, visual_budget


class StreamingLLMPress(KVPress):
    name = "streaming_llm"
    uses_capture = False

    def plan(self, layer, keys, layouts) -> LayerPlan:
        per_row = []
        for row in layouts:
            n_text = row.real.numel() - row.n_visual
            n_keep = min(row.real.numel(), n_text + visual_budget(self.config.budget, row.n_visual))
            sinks = min(self.config.sinks, n_keep)
            per_row.append(keep_sorted(row.real[:sinks], row.real[row.real.numel() - (n_keep - sinks):]))
        return LayerPlan(plain=[per_row for _ in range(keys.shape[1])])
