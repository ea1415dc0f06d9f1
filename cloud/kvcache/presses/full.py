"""Baseline: keep the whole cache (the engine's ordinary path, dense attention)."""
from __future__ import annotations

import torch

from cloud.kvcache.base import KVPress, LayerPlan
from cloud.kvcache.dense import DenseBatchKV


class FullPress(KVPress):
    name = "full"
    uses_capture = False

    def attach(self, language_model: torch.nn.Module) -> "FullPress":
        return self

    def batch_kv(self) -> DenseBatchKV:
        return DenseBatchKV()

    def after_prefill(self, cache, mask: torch.Tensor, prefills) -> torch.Tensor:
        return mask

    def plan(self, layer, keys, layouts) -> LayerPlan:  # pragma: no cover - never called
        raise NotImplementedError
