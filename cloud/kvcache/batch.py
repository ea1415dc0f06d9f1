"""The running batch's KV when a press keeps different lengths per head.

The `BatchKV` seam (cloud/seams.py), as cloud/kvcache/dense.py's `DenseBatchKV` is:
`merge` adds freshly compressed rows, `select` drops finished rows, `grow` gives the
mask of a step that appends one token per row, `truncate_rows` rolls rows back by
different amounts (speculative decoding), `nbytes` counts the tensors held.

`mask` [B, T] is only the LOGICAL layout (left-padded rows, one column per position
ever seen): transformers builds its attention mask from it, and the ragged attention
ignores that mask, because every head's own `valid` slots say what is real. Rollback
removes the rejected tokens from every head (rows are repacked), so the cache is as if
they had never been decoded, not masked.
"""
from __future__ import annotations

import torch

from cloud.kvcache.ragged import RaggedCache, RaggedLayer, as_ragged_layers
from cloud.kvcache.rows import LeftPaddedRows, left_pad, trim_leading_padding


class RaggedBatchKV(LeftPaddedRows):
    def __init__(self):
        self.cache: RaggedCache | None = None
        self.mask: torch.Tensor | None = None

    def _sync_seen(self) -> None:
        for layer in self.cache.layers:
            layer.seen = self.length

    def merge(self, cache, mask: torch.Tensor) -> None:
        layers = as_ragged_layers(cache, mask)
        if self.cache is None:
            self.cache, self.mask = RaggedCache(layers), mask
        else:
            length = max(self.length, int(mask.shape[1]))
            self.cache = RaggedCache([RaggedLayer.concat(a, b) for a, b in zip(self.cache.layers, layers)])
            self.mask = torch.cat([left_pad(self.mask, length, 1), left_pad(mask, length, 1)])
        self._sync_seen()

    def select(self, rows: list[int]) -> None:
        if not rows:
            self.cache, self.mask = None, None
            return
        for layer in self.cache.layers:
            layer.select_rows(rows)
        self.mask, _ = trim_leading_padding(self.mask[torch.tensor(rows, device=self.mask.device)])
        self._sync_seen()

    def truncate_rows(self, drop: list[int]) -> None:
        """Forget the last drop[i] tokens of row i in every head (speculative rollback)."""
        if not any(n > 0 for n in drop):
            return
        for layer in self.cache.layers:
            layer.rollback(drop)
        rows = []
        for row, n in zip(self.mask, drop):
            rows.append(torch.cat([row.new_zeros(n), row[:row.shape[0] - n]]) if n > 0 else row)
        self.mask, _ = trim_leading_padding(torch.stack(rows))
        self._sync_seen()

    def nbytes(self) -> int:
        return 0 if self.cache is None else self.cache.nbytes()

    def read_nbytes(self) -> int:
        return 0 if self.cache is None else sum(layer.read_nbytes() for layer in self.cache.layers)

    def allocated_nbytes(self) -> int:
        return 0 if self.cache is None else sum(layer.allocated_nbytes() for layer in self.cache.layers)
