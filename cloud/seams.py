"""The runner's plug-in seams, declared in one place: what `ModelRunner` (cloud/engine/runner.py) calls
and what its plug-ins implement.

- `Pruner` (cloud/prune): which visual tokens of each image go on to the language model; the runner
  applies it between the projector and the first forward (cloud/engine/pruning.py), from facts the
  model adapter gives (token grids, language model, position rows).
- `KVPress` (cloud/kvcache): compresses a freshly prefilled batch's cache and brings the batch cache
  its rows then live in.
- `BatchKV` (cloud/kvcache: dense.py, batch.py): the running rows' left-padded cache and mask.
- `Speculator` (cloud/speculative): per-row draft-and-verify state; the runner runs the speculative
  step itself and hands the speculator the step's results.

Nothing here imports another floor of ours.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:
    import torch


@dataclass
class StepOutput:
    """One row's outcome of a prefill or decode step: its newest token and whether it is done."""
    seq_id: str
    token: int
    finished: bool


class Pruner(Protocol):
    """Keeps a budget of each image's visual tokens (cloud/prune/base.py's TokenPruner)."""

    config: Any                      # PrunerConfig: what the contexts must offer (text query, boxes, keys)

    def select_batch(self, ctxs: Sequence[Any]) -> list["torch.Tensor"]:
        """Sorted kept indices per image context, every image of a prefill batch at once."""

    def select(self, ctx: Any) -> "torch.Tensor":
        """`select_batch` for one image."""


class BatchKV(Protocol):
    """The running batch's cache: one left-padded row per running sequence and its [B, T] mask."""

    cache: Any
    mask: "torch.Tensor | None"

    @property
    def rows(self) -> int: ...

    @property
    def length(self) -> int: ...

    def merge(self, cache: Any, mask: "torch.Tensor") -> None:
        """Append a prefill batch's rows (its own `cache` and `mask`) below the running ones."""

    def select(self, rows: list[int]) -> None:
        """Keep only `rows`, in that order."""

    def grow(self) -> "torch.Tensor":
        """The mask of a step that appends one token to every row (kept)."""

    def truncate_rows(self, drop: list[int]) -> None:
        """Forget the last drop[i] tokens of row i (speculative rollback)."""

    def nbytes(self) -> int: ...


class KVPress(Protocol):
    """KV compression after prefill (cloud/kvcache/base.py)."""

    def batch_kv(self) -> BatchKV:
        """The batch cache compressed rows join (a press that keeps per-head lengths brings its own)."""

    def after_prefill(self, cache: Any, mask: "torch.Tensor", prefills: list[Any]) -> "torch.Tensor":
        """Compress `cache` in place; return the (possibly shorter) [B, T] mask."""


class Speculator(Protocol):
    """Draft-and-verify decoding's per-row state (cloud/speculative/speculator.py)."""

    config: Any                      # SpeculativeConfig: jump_forward, position_shift, fill_padding
    drafter: Any
    verifier: Any
    visual: Any                      # VisualAnchors (loose, visual relevance) or None

    def rows_for(self, running: list[Any]) -> list[Any]:
        """The running rows with their speculative state, as the step takes them (rows that left the
        batch are forgotten)."""

    def settle(self, running: list[Any], spec_rows: list[Any], results: list[Any]) -> None:
        """Keep what the step left for each row and its statistics; forget finished rows."""
