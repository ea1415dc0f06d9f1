"""A KV cache that holds a different number of tokens per head: the bytes really shrink.

One `RaggedLayer` per model layer holds:
- the plain part of every KV head in ONE flat buffer per tensor, `keys`/`values`
  [B, S, D], where KV head h owns columns [starts[h], starts[h] + capacity[h]) and uses
  the first lengths[h] of them. Rows are left-padded inside a segment (`valid` [B, S]
  marks real slots), so every row's newest token is the segment's last used column and
  a decode step appends one column per head with a single indexed write. Static heads
  keep their pruned visual tokens here; every head keeps its text, sinks, recent window
  and decoded tokens here.
- for each dynamic head, a `ChunkStore`: its kept visual tokens in fixed-size chunks
  [B, N, C, D] with one summary key per chunk (the mean key), retrieved per step.
Heads hold segments of different lengths and different chunk counts: nothing is a mask
over a full-size cache (a capacity of spare columns per segment, `SPARE_COLUMNS`, is the
only slack, like the slab of cloud/kvcache/dense.py).

`update` (called by the model's attention) appends the new tokens and returns a
`RaggedView` in place of key/value tensors; the attention function registered by
cloud/kvcache/attention.py recognises it and runs `RaggedLayer.attend`. Row membership
changes (merge, select, rollback) go through per-row extraction and repacking: they
happen once per request or per verify step, not per token.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

from kernels.hybridkv import chunk_scores, gather_chunks, ragged_attention

# Free columns per head segment: one repack per this many decode steps.
SPARE_COLUMNS = 32


@dataclass
class ChunkStore:
    """One dynamic head's visual tokens in chunks: keys/values [B, N, C, D], valid [B, N, C]."""

    keys: torch.Tensor
    values: torch.Tensor
    valid: torch.Tensor
    summaries: torch.Tensor = field(init=False)   # [B, N, D] mean key of the valid tokens
    retrieve: int = 1                              # chunks attended per decode step

    def __post_init__(self):
        self.full = bool(self.valid.all())        # no padding: selection needs no masks
        w = self.valid.unsqueeze(-1).to(self.keys.dtype)
        self.summaries = (self.keys * w).sum(2) / w.sum(2).clamp_min(1)

    @property
    def n_chunks(self) -> int:
        return int(self.keys.shape[1])

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.keys, self.values, self.summaries))

    def row(self, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ok = self.valid[b].any(-1)
        return self.keys[b, ok], self.values[b, ok], self.valid[b, ok]

    @staticmethod
    def stack(rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], retrieve: int) -> "ChunkStore":
        """Rows of (keys [n, C, D], values, valid [n, C]) -> one store, padded with empty chunks."""
        n = max(1, max(k.shape[0] for k, _, _ in rows))
        k0, v0, _ = rows[0]
        c = k0.shape[1]

        def pad(t, fill=0):
            shape = (n - t.shape[0], *t.shape[1:])
            return torch.cat([t, t.new_full(shape, fill)]) if shape[0] else t

        keys = torch.stack([pad(k) for k, _, _ in rows])
        values = torch.stack([pad(v) for _, v, _ in rows])
        valid = torch.stack([pad(ok, False) for _, _, ok in rows])
        if keys.shape[2] != c:  # pragma: no cover - all rows share the chunk size
            raise ValueError("chunk sizes differ between rows")
        return ChunkStore(keys, values, valid, retrieve=retrieve)


class RaggedView:
    """What `RaggedLayer.update` returns instead of key/value tensors."""

    def __init__(self, layer: "RaggedLayer"):
        self.layer = layer


class RaggedLayer(CacheLayerMixin):
    is_compileable = False
    is_sliding = False
    is_croppable = False
    supports_early_init = False

    def __init__(self, rows: list[list[tuple[torch.Tensor, torch.Tensor]]],
                 chunks: dict[int, ChunkStore] | None = None, seen: int = 0, spare: int = SPARE_COLUMNS):
        """rows[h][b] = (keys [n, D], values [n, Dv]) of KV head h, row b, oldest first."""
        super().__init__()
        self.chunks = chunks or {}
        self.seen = seen              # logical sequence length (what HF's mask code sees)
        self._pack(rows, spare)

    # -- layout ------------------------------------------------------------------------------
    def _pack(self, rows: list[list[tuple[torch.Tensor, torch.Tensor]]], spare: int) -> None:
        n_heads, n_rows = len(rows), len(rows[0])
        k0, v0 = rows[0][0]
        self.lengths = [max(k.shape[0] for k, _ in head) for head in rows]
        self.capacity = [n + spare for n in self.lengths]
        self.starts = [sum(self.capacity[:h]) for h in range(n_heads)]
        total = sum(self.capacity)
        self.keys = k0.new_zeros(n_rows, total, k0.shape[-1])
        self.values = v0.new_zeros(n_rows, total, v0.shape[-1])
        self.valid = torch.zeros(n_rows, total, dtype=torch.bool, device=k0.device)
        for h, head in enumerate(rows):
            end = self.starts[h] + self.lengths[h]
            for b, (k, v) in enumerate(head):
                n = k.shape[0]
                self.keys[b, end - n:end] = k
                self.values[b, end - n:end] = v
                self.valid[b, end - n:end] = True
        # Rows of different lengths leave padding; without it the attention skips masking.
        self.padded = any(k.shape[0] < self.lengths[h] for h, head in enumerate(rows) for k, _ in head)
        self._next = torch.tensor(self.starts, device=k0.device) + torch.tensor(self.lengths, device=k0.device)
        self.device, self.is_initialized = k0.device, True

    def row_tokens(self, h: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.starts[h]
        sl = slice(s, s + self.lengths[h])
        ok = self.valid[b, sl]
        return self.keys[b, sl][ok], self.values[b, sl][ok]

    def rows(self) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        return [[self.row_tokens(h, b) for b in range(self.n_rows)] for h in range(self.n_heads)]

    @property
    def n_rows(self) -> int:
        return int(self.keys.shape[0])

    @property
    def n_heads(self) -> int:
        return len(self.starts)

    def head_tokens(self) -> list[int]:
        """Tokens held per KV head (plain + chunked), padding included, for one row."""
        return [self.lengths[h] + (self.chunks[h].keys.shape[1] * self.chunks[h].keys.shape[2]
                                   if h in self.chunks else 0) for h in range(self.n_heads)]

    def nbytes(self) -> int:
        per_col = self.n_rows * (self.keys.shape[-1] * self.keys.element_size()
                                 + self.values.shape[-1] * self.values.element_size())
        return sum(self.lengths) * per_col + sum(c.nbytes() for c in self.chunks.values())

    def read_nbytes(self) -> int:
        """KV bytes one decode step reads: every plain segment, and for each dynamic head its
        summaries plus only the chunks it retrieves (the physical floor of a decode step)."""
        per_col = self.n_rows * (self.keys.shape[-1] * self.keys.element_size()
                                 + self.values.shape[-1] * self.values.element_size())
        total = sum(self.lengths) * per_col
        for c in self.chunks.values():
            per_chunk = c.keys[:, 0].numel() * c.keys.element_size() + c.values[:, 0].numel() * c.values.element_size()
            total += c.summaries.numel() * c.summaries.element_size() + min(c.retrieve, c.n_chunks) * per_chunk
        return total

    def allocated_nbytes(self) -> int:
        return (self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size()
                + sum(c.nbytes() for c in self.chunks.values()))

    # -- HF cache-layer protocol --------------------------------------------------------------
    def lazy_initialization(self, key_states, value_states) -> None:  # pragma: no cover
        raise RuntimeError("a RaggedLayer is built from a compressed prefill, never lazily")

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Append [B, H, Q, D] new tokens to every head's segment; return views for attention."""
        q = key_states.shape[2]
        if any(n + q > c for n, c in zip(self.lengths, self.capacity)):
            self._pack(self.rows(), max(SPARE_COLUMNS, q))
        cols = self._next if q == 1 else (self._next[:, None] + torch.arange(q, device=self._next.device)).flatten()
        b, h, _, d = key_states.shape
        self.keys[:, cols] = key_states.reshape(b, h * q, d).to(self.keys.dtype)
        self.values[:, cols] = value_states.reshape(b, h * q, value_states.shape[-1]).to(self.values.dtype)
        self.valid[:, cols] = True
        self.lengths = [n + q for n in self.lengths]
        self._next = self._next + q
        self.seen += q
        view = RaggedView(self)
        return view, view

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.seen + query_length, 0

    def get_seq_length(self) -> int:
        return self.seen

    def get_max_length(self) -> int:
        return -1

    # -- attention ----------------------------------------------------------------------------
    def attend(self, query: torch.Tensor, scaling: float) -> torch.Tensor:
        """query [B, Hq, Q, D] -> [B, Hq, Q, D]: static heads over their segment; dynamic heads
        over their segment plus their top-scoring chunks for this step.

        With several new tokens (a speculative verify pass) and dynamic heads, each position
        retrieves its own chunks, as it would have decoding one token at a time."""
        n_q = query.shape[2]
        if n_q > 1 and self.chunks:
            return torch.cat([self._attend(query[:, :, i:i + 1], scaling, n_q - 1 - i) for i in range(n_q)], 2)
        return self._attend(query, scaling, 0)

    def _attend(self, query: torch.Tensor, scaling: float, hide: int) -> torch.Tensor:
        """Attention with the newest `hide` slots of every segment invisible (later positions)."""
        group = query.shape[1] // self.n_heads
        extra = {}
        for h, store in self.chunks.items():
            qh = query[:, h * group:(h + 1) * group]
            scores = chunk_scores(qh, store.summaries)
            if not store.full:
                scores = scores.masked_fill(~store.valid.any(-1), float("-inf"))
            r = min(store.retrieve, store.n_chunks)
            index = torch.topk(scores, r, dim=1, sorted=False).indices
            ok = None
            if not store.full:
                ok = torch.gather(store.valid, 1, index[:, :, None].expand(-1, -1, store.valid.shape[2]))
                ok = ok.reshape(ok.shape[0], -1)
            extra[h] = (gather_chunks(store.keys, index), gather_chunks(store.values, index), ok)
        lengths = [n - hide for n in self.lengths]
        valid = self.valid if self.padded else None
        return ragged_attention(query, self.keys, self.values, valid, self.starts, lengths, scaling, extra)

    # -- membership ---------------------------------------------------------------------------
    def select_rows(self, rows: list[int]) -> None:
        plain = self.rows()
        self.chunks = {h: ChunkStore.stack([c.row(b) for b in rows], c.retrieve) for h, c in self.chunks.items()}
        self._pack([[head[b] for b in rows] for head in plain], SPARE_COLUMNS)

    def rollback(self, drop: list[int]) -> None:
        """Forget the last drop[b] plain tokens of row b (decoded tokens are always plain)."""
        plain = self.rows()
        plain = [[(k[:k.shape[0] - n], v[:v.shape[0] - n]) if n > 0 else (k, v)
                  for (k, v), n in zip(head, drop)] for head in plain]
        self._pack(plain, SPARE_COLUMNS)

    @staticmethod
    def concat(a: "RaggedLayer", b: "RaggedLayer") -> "RaggedLayer":
        if set(a.chunks) != set(b.chunks):
            raise ValueError("rows compressed with different head classes cannot share a batch")
        pa, pb = a.rows(), b.rows()
        chunks = {h: ChunkStore.stack([a.chunks[h].row(i) for i in range(a.n_rows)]
                                      + [b.chunks[h].row(i) for i in range(b.n_rows)],
                                      max(a.chunks[h].retrieve, b.chunks[h].retrieve)) for h in a.chunks}
        return RaggedLayer([ha + hb for ha, hb in zip(pa, pb)], chunks, seen=max(a.seen, b.seen))

    @staticmethod
    def from_dense(keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor) -> "RaggedLayer":
        """Every real column of a [B, H, T, D] cache (no compression)."""
        real = mask.bool()
        rows = [[(keys[b, h][real[b]], values[b, h][real[b]]) for b in range(keys.shape[0])]
                for h in range(keys.shape[1])]
        return RaggedLayer(rows, seen=int(mask.shape[1]))


class RaggedCache(Cache):
    """A transformers Cache whose layers are RaggedLayers."""

    def __init__(self, layers: list[RaggedLayer]):
        super().__init__(layers=layers)

    def nbytes(self) -> int:
        return sum(layer.nbytes() for layer in self.layers)


def build_layer(keys: torch.Tensor, values: torch.Tensor, plain: list[list[torch.Tensor]],
                chunked: dict[int, list[torch.Tensor]], retrieve: dict[int, int], seen: int) -> RaggedLayer:
    """A RaggedLayer from a prefill layer [B, H, T, D] and a keep plan.

    plain[h][b]: sorted columns kept in head h's segment; chunked[h][b]: [n, C] columns of
    head h's chunks (-1 pads a partial chunk); retrieve[h]: chunks attended per step.
    """
    rows = [[(keys[b, h, cols], values[b, h, cols]) for b, cols in enumerate(head)]
            for h, head in enumerate(plain)]
    chunks = {}
    for h, per_row in chunked.items():
        parts = []
        for b, cols in enumerate(per_row):
            ok = cols >= 0
            safe = cols.clamp_min(0)
            parts.append((keys[b, h][safe], values[b, h][safe], ok))
        chunks[h] = ChunkStore.stack(parts, retrieve[h])
    return RaggedLayer(rows, chunks, seen=seen)


def as_ragged_layers(cache: Any, mask: torch.Tensor) -> list[RaggedLayer]:
    """The layers of a prefill cache as RaggedLayers (dense layers are kept whole)."""
    out = []
    for layer in cache.layers:
        if isinstance(layer, RaggedLayer):
            out.append(layer)
        elif getattr(layer, "is_initialized", False):
            out.append(RaggedLayer.from_dense(layer.keys, layer.values, mask))
    return out
