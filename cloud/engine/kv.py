"""The running batch's KV cache: one left-padded HF cache plus its padding mask.

Every running sequence owns one row of a `[B, heads, T, head_dim]` cache per
layer; shorter sequences are left-padded and the `[B, T]` mask marks real
slots, so a decode step appends one column for every row at once. The layout
changes only when membership changes: `merge` adds freshly prefilled rows
(padding whichever side is shorter), `select` drops finished rows and trims
columns that are padding in every remaining row.

Extension points (later issues):
- a KV press (HybridKV) compresses a freshly prefilled sequence's rows before
  they join the batch: `ModelRunner(kv_press=...)` calls
  `press.after_prefill(cache, mask, prefill)` on the prefill batch's own cache;
  a press that keeps different lengths per head supplies its own Cache subclass
  through `ModelAdapter.new_cache` and implements `merge`/`select` for it.
- a speculative verifier needs to run k tokens per row and roll rows back by
  different amounts: `truncate_rows` masks the rejected tail of each row, so
  rolled-back slots become padding that the next `select` trims.
"""
from __future__ import annotations

from typing import Any, Callable

import torch


def _layers(cache: Any) -> list:
    return [layer for layer in cache.layers if getattr(layer, "is_initialized", False)]


def _left_pad(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class BatchKV:
    """A left-padded cache for the running rows and its [B, T] attention mask."""

    def __init__(self, new_cache: Callable[[], Any]):
        self.new_cache = new_cache
        self.cache: Any | None = None
        self.mask: torch.Tensor | None = None   # [B, T] long, 1 = real token

    @property
    def rows(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[0])

    @property
    def length(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[1])

    def merge(self, cache: Any, mask: torch.Tensor) -> None:
        """Append the rows of a prefill batch's `cache` (with its `mask`) below ours."""
        if self.cache is None:
            self.cache, self.mask = cache, mask
            return
        length = max(self.length, int(mask.shape[1]))
        for mine, theirs in zip(_layers(self.cache), _layers(cache)):
            mine.keys = torch.cat([_left_pad(mine.keys, length, 2), _left_pad(theirs.keys, length, 2)])
            mine.values = torch.cat([_left_pad(mine.values, length, 2),
                                     _left_pad(theirs.values, length, 2)])
        self.mask = torch.cat([_left_pad(self.mask, length, 1), _left_pad(mask, length, 1)])

    def select(self, rows: list[int]) -> None:
        """Keep only `rows` (in that order); trim columns that are now padding everywhere."""
        if not rows:
            self.cache, self.mask = None, None
            return
        idx = torch.tensor(rows, device=self.mask.device)
        mask = self.mask[idx]
        real = mask.any(dim=0).nonzero()
        start = int(real[0]) if len(real) else mask.shape[1]
        for layer in _layers(self.cache):
            layer.keys = layer.keys[idx, :, start:]
            layer.values = layer.values[idx, :, start:]
        self.mask = mask[:, start:].contiguous()

    def grow(self) -> torch.Tensor:
        """The mask for a step that appends one token to every row (returned and kept)."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.rows, 1)], dim=1)
        return self.mask

    def truncate_rows(self, drop: list[int]) -> None:
        """Mask the last drop[i] slots of row i (speculative rollback)."""
        for row, n in enumerate(drop):
            if n > 0:
                self.mask[row, -n:] = 0

    def nbytes(self) -> int:
        if self.cache is None:
            return 0
        return sum(l.keys.numel() * l.keys.element_size() + l.values.numel() * l.values.element_size()
                   for l in _layers(self.cache))
