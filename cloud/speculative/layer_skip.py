"""Self-speculation by layer skipping: the target's first layers draft for it.

Draft & Verify (Zhang et al., ACL 2024) and LayerSkip (Elhoushi et al., 2024)
draft with a subset of the target's own layers, so no second model is loaded
and the tokenizer is the same by construction. Our choices where they vary:
- the drafter runs the first `draft_layers` decoder layers, then the target's
  final norm and lm_head (early exit; LayerSkip's form, without its training,
  so acceptance is what a stock model gives);
- the early layers' KV for committed tokens IS the target's KV for those
  layers (same weights, same inputs), so drafting reads the target's cache
  through an overlay that appends drafted keys to copies and never writes
  the target's layers: nothing to roll back after drafting.
The layers are truncated for the duration of the draft passes by swapping the
decoder's `layers` ModuleList (restored in a finally block); this relies on
the decoder iterating `self.layers` (transformers 5.x Llama and Qwen2-VL do).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

from cloud.speculative.drafter import DraftContext, Drafter, DraftRow
from cloud.speculative.grammar_draft import greedy_draft


def resolve_layers(draft_layers: int | float, total: int) -> int:
    if isinstance(draft_layers, float):
        return max(1, min(total, round(draft_layers * total)))
    return max(1, min(total, int(draft_layers)))


@contextmanager
def early_exit(decoder: torch.nn.Module, layers: int):
    """Run only the first `layers` decoder layers inside the block."""
    full = decoder.layers
    decoder.layers = torch.nn.ModuleList(list(full)[:layers])
    try:
        yield
    finally:
        decoder.layers = full


def overlay_cache(cache: Any, layers: int, rows: list[int] | None) -> Cache:
    """A cache whose first `layers` layers start as (row-selected) views of `cache`'s."""
    out = []
    for layer in list(cache.layers)[:layers]:
        new = DynamicLayer()
        keys, values = layer.keys, layer.values
        if rows is not None:
            idx = torch.tensor(rows, device=keys.device)
            keys, values = keys.index_select(0, idx), values.index_select(0, idx)
        new.keys, new.values = keys, values
        new.device, new.is_initialized = keys.device, True
        out.append(new)
    return Cache(layers=out)


class LayerSkipDrafter(Drafter):
    name = "layer_skip"

    def __init__(self, draft_layers: int | float = 0.5):
        self.draft_layers = draft_layers

    def propose(self, rows: list[DraftRow], ctx: DraftContext) -> list[list[int]]:
        active = [r for r in rows if r.k > 0]
        if not active:
            return [[] for _ in rows]
        decoder = ctx.target.language_model
        n = resolve_layers(self.draft_layers, len(decoder.layers))
        sel = [r.index for r in active]
        whole = sel == list(range(ctx.rows))
        cache = overlay_cache(ctx.kv.cache, n, None if whole else sel)
        mask = ctx.kv.mask if whole else ctx.kv.mask[torch.tensor(sel, device=ctx.kv.mask.device)]
        blocks = [r.committed[r.in_kv:] + r.prefix for r in active]
        starts = [r.position + r.in_kv for r in active]
        with torch.inference_mode(), early_exit(decoder, n):
            drafts, _ = greedy_draft(ctx.target, cache, mask, active, blocks, starts, ctx)
        by_seq = {r.seq_id: d for r, d in zip(active, drafts)}
        return [by_seq.get(r.seq_id, []) for r in rows]
