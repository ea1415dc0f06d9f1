"""Plain torch reference of HybridKV's decode hot path (arXiv 2604.05887).

One layer's kept KV lives in a flat, per-head-segmented buffer (cloud/kvcache/ragged.py):
`keys`/`values` are [B, S, D] and KV head h owns columns [starts[h], starts[h] + lengths[h]);
`valid` [B, S] marks real slots (rows are left-padded inside each segment, so a row's
newest tokens sit at the segment's end). Heads hold different numbers of tokens: that is
what makes the memory shrink. Dynamic heads also hold visual chunks [B, N, C, D] with one
summary key per chunk; per decode step they attend only their top-scoring chunks.

Three steps, each with a Triton twin in triton_kernel.py:
- `chunk_scores`: score of each chunk = mean over the head's query group (and query
  positions) of q · summary. Linear in q, so it is (mean q) · summary.
- `gather_chunks`: the selected chunks' tokens, [B, R, C, D] -> [B, R*C, D].
- `ragged_attention`: softmax attention of every query head over its KV head's segment
  plus (optionally) that head's gathered chunk tokens, with GQA (query head j uses KV
  head j // G) and causality among the last Q slots of the segment (the tokens this
  forward appended). Chunk tokens are all older than the queries, so always visible.
"""
from __future__ import annotations

import torch


def chunk_scores(q: torch.Tensor, summaries: torch.Tensor) -> torch.Tensor:
    """q [B, G, Q, D] (one KV head's query group), summaries [B, N, D] -> [B, N] float32."""
    q_mean = q.float().mean(dim=(1, 2))                       # [B, D]
    return torch.matmul(summaries.float(), q_mean.unsqueeze(-1)).squeeze(-1)


def gather_chunks(chunks: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """chunks [B, N, C, D], index [B, R] (chunk ids) -> [B, R*C, D]."""
    b, _, c, d = chunks.shape
    if b == 1:   # the common decode case: one index_select, no index broadcasting
        return chunks[0].index_select(0, index[0]).reshape(1, -1, d)
    rows = torch.arange(b, device=chunks.device)[:, None]
    return chunks[rows, index].reshape(b, -1, d)


def ragged_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor | None,
                     starts: list[int], lengths: list[int], scaling: float,
                     extra: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] | None = None
                     ) -> torch.Tensor:
    """q [B, Hq, Q, D]; keys/values [B, S, D]; valid [B, S] bool (None: every slot is real);
    per-KV-head segments.

    extra: {kv_head: (keys [B, E, D], values [B, E, D], valid [B, E] or None)}, the gathered
    chunk tokens of dynamic heads. Returns [B, Hq, Q, D] in q's dtype.
    """
    b, hq, n_q, d = q.shape
    n_kv = len(starts)
    group = hq // n_kv
    rows = group * n_q                      # a KV head's query rows, as one batched matmul
    out = q.new_empty(b, hq, n_q, d)
    extra = extra or {}
    dtype = torch.promote_types(q.dtype, torch.float32)
    causal = None
    for h in range(n_kv):
        s, n = starts[h], lengths[h]
        qh = q[:, h * group:(h + 1) * group].to(dtype).reshape(b, rows, d)
        k, v = keys[:, s:s + n].to(dtype), values[:, s:s + n].to(dtype)
        scores = torch.bmm(qh, k.transpose(1, 2)).mul_(scaling).view(b, group, n_q, n)
        if n_q > 1:  # query i sees the segment up to its own slot (the last n_q slots are new)
            col = torch.arange(n, device=q.device)
            causal = col[None, :] <= (n - n_q + torch.arange(n_q, device=q.device))[:, None]
            scores = scores.masked_fill(~causal, float("-inf"))
        if valid is not None:
            scores = scores.masked_fill(~valid[:, None, None, s:s + n], float("-inf"))
        scores = scores.view(b, rows, n)
        if h in extra:
            ek, ev, eok = extra[h]
            e_scores = torch.bmm(qh, ek.to(dtype).transpose(1, 2)).mul_(scaling)
            if eok is not None:
                e_scores = e_scores.masked_fill(~eok[:, None, :], float("-inf"))
            e = ek.shape[1]
            probs = torch.softmax(torch.cat([e_scores, scores], dim=-1), dim=-1)
            o = torch.bmm(probs[..., :e], ev.to(dtype)).add_(torch.bmm(probs[..., e:], v))
        else:
            o = torch.bmm(torch.softmax(scores, dim=-1), v)
        out[:, h * group:(h + 1) * group] = o.view(b, group, n_q, d).to(q.dtype)
    return out
