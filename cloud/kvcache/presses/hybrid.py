"""HybridKV (arXiv 2604.05887): static heads pruned once by the text prior, dynamic heads
retrieve chunks per decode step, budgets allocated top-down by a head profile.

After prefill, for every layer, KV head and row:
- the head's budget comes from `allocate` (cloud/kvcache/allocation.py): budget x visual
  tokens x layers x heads in total, split by layer need, then by head need (profile);
- a static head keeps the visual tokens its text prior ranks highest: the attention of
  the prompt's text tokens inside the observation window (the question after the frames),
  averaged over those queries and the head's query group; everything else is freed;
- a dynamic head keeps visual tokens in fixed-size chunks of consecutive visual tokens
  (a frame's rows, in raster order); the chunks with the highest mean text prior are held,
  budget / chunk_size of them, each with a summary key (the mean key); at every decode step
  the head attends only its top `retrieval_ratio` of held chunks by (mean query) · summary;
- every head keeps the prompt's text, sinks and recent window, and every decoded token.
Choices where the paper was vague to us: classification, need and budgets are per KV head
(what the cache stores; GQA groups share one), a layer's text prior is that layer's own
prefill attention (captured, no extra pass), and at budget 1.0 retrieval attends every held
chunk so the full budget is exactly the uncompressed model.
"""
from __future__ import annotations

import math

import torch

from cloud.kvcache.allocation import allocate
from cloud.kvcache.base import KVPress, LayerPlan, RowLayout, keep_sorted, top_columns
from cloud.kvcache.head_profile import HeadProfile


class HybridKVPress(KVPress):
    name = "hybridkv"

    def __init__(self, config=None, profile: HeadProfile | None = None):
        super().__init__(config)
        if profile is None:
            raise ValueError("hybridkv needs a head profile (python -m cloud.kvcache.calibrate)")
        self.profile = profile
        self._budgets: list[list[list[int]]] | None = None   # [row][layer][head], per prefill

    def head_budgets(self, n_visual: int, layers: int, heads: int) -> list[list[int]]:
        total = round(self.config.budget * n_visual * layers * heads)
        return allocate(total, self.profile.need, n_visual)

    def is_dynamic(self, layer: int, head: int) -> bool:
        return self.profile.classes[layer][head] == "dynamic"

    def after_prefill(self, cache, mask, prefills):
        self._budgets = None
        return super().after_prefill(cache, mask, prefills)

    def text_prior(self, layer: int, b: int, row: RowLayout) -> torch.Tensor:
        att = self.window_attention(layer)[b]                          # [H, W, T]
        text = row.window_text[-att.shape[1]:]
        if not bool(text.any()):
            text = torch.ones_like(text)
        return att[:, text].mean(1)                                    # [H, T]

    def plan(self, layer: int, keys: torch.Tensor, layouts: list[RowLayout]) -> LayerPlan:
        n_layers, heads = self.n_layers, keys.shape[1]
        if self._budgets is None:
            self._budgets = [self.head_budgets(r.n_visual, n_layers, heads) for r in layouts]
        size, full = self.config.chunk_size, self.config.budget >= 1.0
        plan = LayerPlan(plain=[[] for _ in range(heads)])
        for b, row in enumerate(layouts):
            prior = self.text_prior(layer, b, row)
            cand = row.candidates()
            for h in range(heads):
                k = self._budgets[b][layer][h]
                if not self.is_dynamic(layer, h):
                    plan.plain[h].append(keep_sorted(row.always, top_columns(prior[h], cand, k)))
                    continue
                plan.plain[h].append(row.always)
                chunks = chunk_columns(cand, size)
                held = chunks[hold_chunks(prior[h], chunks, k, size)]
                plan.chunked.setdefault(h, []).append(held)
                n_held = held.shape[0]
                r = n_held if full else max(1, math.ceil(self.config.retrieval_ratio * n_held))
                plan.retrieve[h] = max(plan.retrieve.get(h, 1), r)
        return plan


def chunk_columns(columns: torch.Tensor, size: int) -> torch.Tensor:
    """[n] columns -> [ceil(n / size), size], the last chunk padded with -1."""
    n = columns.numel()
    pad = (-n) % size
    padded = torch.cat([columns, columns.new_full((pad,), -1)])
    return padded.view(-1, size)


def hold_chunks(prior: torch.Tensor, chunks: torch.Tensor, k: int, size: int) -> torch.Tensor:
    """Indices (sorted) of the chunks with the highest mean prior, k // size of them (>= 1 if k)."""
    if chunks.shape[0] == 0 or k <= 0:
        return torch.zeros(0, dtype=torch.long, device=chunks.device)
    m = min(chunks.shape[0], max(1, round(k / size)))
    ok = chunks >= 0
    score = (prior[chunks.clamp_min(0)] * ok).sum(1) / ok.sum(1)
    return torch.sort(torch.topk(score, m).indices).values
