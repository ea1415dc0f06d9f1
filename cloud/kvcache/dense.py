"""The running batch's KV cache: one left-padded HF cache plus its padding mask.

Every running sequence owns one row of a `[B, heads, T, head_dim]` cache per
layer; shorter sequences are left-padded and the `[B, T]` mask marks real
slots, so a decode step appends one column for every row at once. The layout
changes only when membership changes: `merge` adds freshly prefilled rows
(padding whichever side is shorter), `select` drops finished rows and trims
columns that are padding in every remaining row.

The decode batch's layers are `SlabLayer`s: keys and values live in a buffer
with spare columns and a decode step writes its column in place. HF's
`DynamicLayer` concatenates, i.e. copies the whole cache every step (bytes in
proportion to rows x tokens x layers, per generated token): on the CPU a large
share of a batched decode step. Growth reallocates by `SLAB_GROW_TOKENS` columns.

Extension points:
- a KV press (HybridKV) compresses a freshly prefilled sequence's rows before
  they join the batch: `ModelRunner(kv_press=...)` calls
  `press.after_prefill(cache, mask, prefill)` on the prefill batch's own cache;
  a press that keeps different lengths per head supplies its own Cache subclass
  through `DenseBatchKV(new_cache=...)` and implements `merge`/`select` for it.
- a speculative verifier needs to run k tokens per row and roll rows back by
  different amounts: `truncate_rows` masks the rejected tail of each row, so
  rolled-back slots become padding that the next `select` trims.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from transformers.cache_utils import Cache, DynamicLayer

from cloud.kvcache.rows import LeftPaddedRows, left_pad, trim_leading_padding

# Spare columns per reallocation: one copy per this many decode steps.
SLAB_GROW_TOKENS = 64


class SlabLayer(DynamicLayer):
    """A DynamicLayer whose update writes into preallocated columns (views returned)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._len = 0

    def reset_to(self, keys: torch.Tensor, values: torch.Tensor, spare: int = SLAB_GROW_TOKENS) -> None:
        b, h, t, d = keys.shape
        self._k = keys.new_empty(b, h, t + spare, d)
        self._v = values.new_empty(b, h, t + spare, values.shape[-1])
        self._k[:, :, :t] = keys
        self._v[:, :, :t] = values
        self._len = t
        self.keys, self.values = self._k[:, :, :t], self._v[:, :, :t]
        self.device, self.is_initialized = keys.device, True

    def update(self, key_states, value_states, *args, **kwargs):
        n = key_states.shape[-2]
        if not self.is_initialized or self._k is None:
            self.reset_to(key_states, value_states)
            return self.keys, self.values
        if self._len + n > self._k.shape[-2]:
            self.reset_to(self.keys, self.values, spare=max(SLAB_GROW_TOKENS, n))
        self._k[:, :, self._len:self._len + n] = key_states
        self._v[:, :, self._len:self._len + n] = value_states
        self._len += n
        self.keys, self.values = self._k[:, :, :self._len], self._v[:, :, :self._len]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self._len if self.is_initialized else 0


class SlabCache(Cache):
    """A cache of SlabLayers (the decode batch's cache)."""

    def __init__(self):
        super().__init__(layer_class_to_replicate=SlabLayer)


def _layers(cache: Any) -> list:
    return [layer for layer in cache.layers if getattr(layer, "is_initialized", False)]


def _set(layer: Any, keys: torch.Tensor, values: torch.Tensor) -> None:
    if isinstance(layer, SlabLayer):
        layer.reset_to(keys, values)
    else:
        layer.keys, layer.values = keys, values


class DenseBatchKV(LeftPaddedRows):
    """A left-padded cache for the running rows and its [B, T] attention mask."""

    def __init__(self, new_cache: Callable[[], Any] = SlabCache):
        self.new_cache = new_cache
        self.cache: Any | None = None
        self.mask: torch.Tensor | None = None   # [B, T] long, 1 = real token

    def merge(self, cache: Any, mask: torch.Tensor) -> None:
        """Append the rows of a prefill batch's `cache` (with its `mask`) below ours."""
        if self.cache is None:
            self.cache, self.mask = self.new_cache(), mask
            for i, theirs in enumerate(_layers(cache)):
                self.cache.update(theirs.keys, theirs.values, i)
            return
        length = max(self.length, int(mask.shape[1]))
        for mine, theirs in zip(_layers(self.cache), _layers(cache)):
            _set(mine, torch.cat([left_pad(mine.keys, length, 2), left_pad(theirs.keys, length, 2)]),
                 torch.cat([left_pad(mine.values, length, 2), left_pad(theirs.values, length, 2)]))
        self.mask = torch.cat([left_pad(self.mask, length, 1), left_pad(mask, length, 1)])

    def select(self, rows: list[int]) -> None:
        """Keep only `rows` (in that order); trim columns that are now padding everywhere."""
        if not rows:
            self.cache, self.mask = None, None
            return
        idx = torch.tensor(rows, device=self.mask.device)
        self.mask, start = trim_leading_padding(self.mask[idx])
        for layer in _layers(self.cache):
            _set(layer, layer.keys[idx, :, start:], layer.values[idx, :, start:])

    def truncate_rows(self, drop: list[int]) -> None:
        """Mask the last drop[i] slots of row i (speculative rollback)."""
        for row, n in enumerate(drop):
            if n > 0:
                self.mask[row, -n:] = 0

    def nbytes(self) -> int:
        if self.cache is None:
            return 0
        return sum(layer.keys.numel() * layer.keys.element_size()
                   + layer.values.numel() * layer.values.element_size()
                   for layer in _layers(self.cache))
