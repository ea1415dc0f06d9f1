"""Baseline: HybridKV without the head classification: every head is pruned by the text
prior, with the same budget (budget x visual tokens each). Testing HybridKV against it
tests the paper's claim that heads need different strategies and budgets."""
from __future__ import annotations

from cloud.kvcache.allocation import uniform
from cloud.kvcache.base import KVPress
from cloud.kvcache.presses.hybrid import HybridKVPress


class UniformPress(HybridKVPress):
    name = "uniform"

    def __init__(self, config=None, profile=None):
        KVPress.__init__(self, config)
        self.profile = None
        self._budgets = None

    def head_budgets(self, n_visual: int, layers: int, heads: int) -> list[list[int]]:
        return uniform(round(self.config.budget * n_visual * layers * heads), layers, heads, n_visual)

    def is_dynamic(self, layer: int, head: int) -> bool:
        return False
