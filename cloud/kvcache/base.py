"""The KVPress base class (the runner's `KVPress` seam, cloud/seams.py): compress a freshly
prefilled batch's cache before it joins the batch.

kvpress's shape (NVIDIA/kvpress: a small base class, one file per method, baselines
beside the method): `ModelRunner(kv_press=...)` calls `after_prefill(cache, mask,
prefills)` on the prefill batch's own cache; a press decides, per layer, KV head and row,
which prefill columns each head keeps (`LayerPlan`), and the base class replaces the
cache's layers in place with `RaggedLayer`s holding exactly those tokens. The runner's
batch then comes from `batch_kv()` (a `RaggedBatchKV`), so rows with different per-head
lengths decode together.

`attach(language_model)` installs the attention function that captures the prefill's
text-to-token attention (cloud/kvcache/attention.py); presses read it in `plan`.
Every press keeps every text token of the prompt (the question, the system prompt) plus
`sinks` and `recent_window` tokens, and spends `budget` on visual tokens only, except
StreamingLLM, which by definition keeps positions, not kinds (its budget is matched in
tokens).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from cloud.kvcache.attention import AttentionCapture, install
from cloud.kvcache.batch import RaggedBatchKV
from cloud.kvcache.config import KVCacheConfig
from cloud.kvcache.ragged import build_layer


@dataclass
class RowLayout:
    """One prefill row's columns in the batch's [B, T] layout."""

    real: torch.Tensor      # columns holding this row's tokens, in order
    visual: torch.Tensor    # the visual tokens' columns
    always: torch.Tensor    # columns every head keeps: text, sinks, recent window
    window_text: torch.Tensor  # [W] bool: which captured window queries are this row's text

    @property
    def n_visual(self) -> int:
        return int(self.visual.numel())

    def candidates(self) -> torch.Tensor:
        """Visual columns not already kept by every head."""
        return self.visual[~torch.isin(self.visual, self.always)]


def row_layouts(mask: torch.Tensor, prefills: list[Any], window: int, sinks: int,
                recent: int) -> list[RowLayout]:
    out = []
    for b, pre in enumerate(prefills):
        real = mask[b].nonzero().squeeze(1)
        vis = pre.visual_token_mask[0].to(real.device)
        if vis.numel() != real.numel():
            raise ValueError(f"row {b}: {real.numel()} real columns for a {vis.numel()}-token prompt")
        keep = torch.zeros(real.numel(), dtype=torch.bool, device=real.device)
        keep[~vis] = True
        keep[:sinks] = True
        if recent:
            keep[-recent:] = True
        w = min(window, int(mask.shape[1]))
        tail = torch.arange(real.numel() - w, real.numel(), device=real.device)
        window_text = (tail >= 0) & ~vis[tail.clamp_min(0)]
        out.append(RowLayout(real, real[vis], real[keep], window_text))
    return out


@dataclass
class LayerPlan:
    """Which prefill columns each KV head keeps, per row."""

    plain: list[list[torch.Tensor]]                        # [head][row] sorted columns
    chunked: dict[int, list[torch.Tensor]] = field(default_factory=dict)  # head -> [row] [n, C]
    retrieve: dict[int, int] = field(default_factory=dict)  # head -> chunks attended per step


def top_columns(scores: torch.Tensor, columns: torch.Tensor, k: int) -> torch.Tensor:
    """The k of `columns` with the highest `scores` (indexed by column)."""
    k = max(0, min(k, columns.numel()))
    if k == 0:
        return columns[:0]
    return columns[torch.topk(scores[columns], k).indices]


def keep_sorted(*parts: torch.Tensor) -> torch.Tensor:
    return torch.unique(torch.cat(parts))   # sorted, duplicates removed


def visual_budget(budget: float, n_visual: int) -> int:
    """Visual tokens kept per head on average (the matched budget of every press)."""
    return min(n_visual, math.ceil(budget * n_visual))


class KVPress(ABC):
    name: ClassVar[str] = "base"
    uses_capture: ClassVar[bool] = True

    def __init__(self, config: KVCacheConfig | None = None):
        self.config = config or KVCacheConfig(method=self.name)  # type: ignore[arg-type]
        self.capture: AttentionCapture | None = None
        self.n_layers = 0

    def attach(self, language_model: torch.nn.Module) -> "KVPress":
        capture = AttentionCapture(window=self.config.observation_window) if self.uses_capture else None
        self.capture = install(language_model, capture)   # without a capture: ragged decode only
        return self

    def batch_kv(self) -> RaggedBatchKV:
        return RaggedBatchKV()

    def layouts(self, mask: torch.Tensor, prefills: list[Any]) -> list[RowLayout]:
        c = self.config
        return row_layouts(mask, prefills, c.observation_window, c.sinks, c.recent_window)

    def window_attention(self, layer: int) -> torch.Tensor:
        """[B, Hkv, W, T] attention of the prompt's last W queries, from the capture."""
        if self.capture is None or layer not in self.capture.prefill:
            raise RuntimeError(f"{self.name}: no captured prefill attention for layer {layer}; "
                               "was the press attached to this model?")
        return self.capture.prefill[layer]

    @torch.inference_mode()
    def after_prefill(self, cache: Any, mask: torch.Tensor, prefills: list[Any]) -> torch.Tensor:
        """Replace `cache`'s layers with ragged layers holding what `plan` keeps; mask unchanged."""
        layouts = self.layouts(mask, prefills)
        dense = [layer for layer in cache.layers if getattr(layer, "is_initialized", False)]
        self.n_layers = len(dense)
        new_layers = []
        for i, layer in enumerate(dense):
            plan = self.plan(i, layer.keys, layouts)
            new_layers.append(build_layer(layer.keys, layer.values, plan.plain, plan.chunked,
                                          plan.retrieve, seen=int(mask.shape[1])))
        cache.layers[:] = new_layers
        if self.capture is not None:
            self.capture.clear()
        return mask

    @abstractmethod
    def plan(self, layer: int, keys: torch.Tensor, layouts: list[RowLayout]) -> LayerPlan:
        """What each KV head of `layer` keeps; keys is the prefill's [B, Hkv, T, D]."""
