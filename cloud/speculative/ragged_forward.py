"""One forward over a ragged block: each row appends its own number of tokens.

Rows of the running batch accept different numbers of drafted tokens, so the
next pass feeds each row a different count. The block is left-aligned (row r's
tokens in columns [0, len_r), padding after), the padding columns are masked
out, and every row's tokens keep their own explicit positions, so a pad column
is a hole that no query attends to (the same kind of hole `BatchKV.truncate_rows`
leaves behind when it rolls a row back).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

PAD_ID = 0   # any id: padded columns are masked out of every query


def ragged_forward(adapter: Any, cache: Any, mask: torch.Tensor, blocks: Sequence[Sequence[int]],
                   starts: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Append `blocks[r]` (first token at position `starts[r]`) to row r of `cache`.

    Returns logits [B, n, V] for the n block columns and the [B, T + n] mask (pads 0).
    """
    rows, n = len(blocks), max(1, max(len(b) for b in blocks))
    device = adapter.device
    ids = torch.full((rows, n), PAD_ID, dtype=torch.long)
    new = torch.zeros(rows, n, dtype=mask.dtype)
    for r, block in enumerate(blocks):
        if block:
            ids[r, :len(block)] = torch.tensor(block, dtype=torch.long)
            new[r, :len(block)] = 1
    positions = torch.tensor(list(starts), dtype=torch.long).view(-1, 1) + torch.arange(n)
    positions = positions.view(1, rows, n).expand(adapter.position_rows, rows, n).to(device)
    full = torch.cat([mask, new.to(mask.device)], dim=1)
    logits = adapter.forward(adapter.embed_tokens(ids.to(device)), positions, full, cache, last=n)
    if logits.dim() == 2:
        logits = logits.unsqueeze(1)
    return logits, full
