"""What every batch cache shares: left-padded rows under one [B, T] mask (1 = a real token)."""
from __future__ import annotations

import torch


def left_pad(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def trim_leading_padding(mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """`mask` without the columns that are padding in every row, and the first column kept."""
    real = mask.any(dim=0).nonzero()
    start = int(real[0]) if len(real) else mask.shape[1]
    return mask[:, start:].contiguous(), start


class LeftPaddedRows:
    """The mask half of a batch cache: row and column counts, and one more column per decode step."""

    mask: torch.Tensor | None

    @property
    def rows(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[0])

    @property
    def length(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[1])

    def grow(self) -> torch.Tensor:
        """The mask for a step that appends one token to every row (returned and kept)."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.rows, 1)], dim=1)
        return self.mask
