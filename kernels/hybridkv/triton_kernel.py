"""HybridKV's decode hot path as Triton kernels (GPU path; the CPU uses reference.py).

- `_chunk_scores_kernel`: one program per (row, block of chunks): summary · mean query.
- `_gather_chunks_kernel`: one program per (row, picked chunk): copies its C x D tokens.
- `_ragged_attention_kernel`: one program per (row, query head, query position), flash-
  decoding style: it streams its KV head's own segment (start and length per head, so a
  head reads only the tokens it holds) and then the head's gathered chunk tokens, with
  an online softmax; masked slots never enter the sum. Causality holds among the last Q
  slots of the segment, as in the reference.
Same contracts as reference.py; equality (to float tolerance, the softmax is computed
blockwise) is tested under TRITON_INTERPRET=1 in tests/kernels.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_T = 64        # keys per step of the online softmax
BLOCK_N = 64        # chunks scored per program
NEG = tl.constexpr(-1.0e30)   # "minus infinity" that keeps exp() finite in fully masked blocks (a constexpr:
                              # compiled Triton reads no plain Python globals)


@triton.jit
def _chunk_scores_kernel(q_ptr, s_ptr, out_ptr, n, d, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    b = tl.program_id(0)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    q = tl.load(q_ptr + b * d + offs_d, mask=offs_d < d, other=0.0)
    tile = tl.load(s_ptr + b * n * d + offs_n[:, None] * d + offs_d[None, :],
                   mask=(offs_n[:, None] < n) & (offs_d[None, :] < d), other=0.0)
    tl.store(out_ptr + b * n + offs_n, tl.sum(tile * q[None, :], axis=1), mask=offs_n < n)


def chunk_scores_triton(q: torch.Tensor, summaries: torch.Tensor) -> torch.Tensor:
    b, n, d = summaries.shape
    q_mean = q.float().mean(dim=(1, 2)).contiguous()
    s = summaries.float().contiguous()
    out = torch.empty(b, n, dtype=torch.float32, device=q.device)
    if n:
        grid = (b, triton.cdiv(n, BLOCK_N))
        _chunk_scores_kernel[grid](q_mean, s, out, n, d, BLOCK_N=BLOCK_N, BLOCK_D=triton.next_power_of_2(d))
    return out


@triton.jit
def _gather_chunks_kernel(src_ptr, idx_ptr, out_ptr, n, r, cd, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    j = tl.program_id(1)
    chunk = tl.load(idx_ptr + b * r + j)
    offs = tl.arange(0, BLOCK)
    m = offs < cd
    vals = tl.load(src_ptr + (b * n + chunk) * cd + offs, mask=m, other=0.0)
    tl.store(out_ptr + (b * r + j) * cd + offs, vals, mask=m)


def gather_chunks_triton(chunks: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    b, n, c, d = chunks.shape
    r = index.shape[1]
    src = chunks.contiguous()
    out = torch.empty(b, r * c, d, dtype=chunks.dtype, device=chunks.device)
    if r:
        _gather_chunks_kernel[(b, r)](src, index.contiguous(), out, n, r, c * d,
                                      BLOCK=triton.next_power_of_2(c * d))
    return out


@triton.jit
def _online_softmax_step(q, k, v, ok, scaling, m_i, l_i, acc):
    """Fold one block of keys `k` and values `v` (rows where `ok`) into the running max, sum
    and weighted sum of a flash-decoding online softmax."""
    sc = tl.where(ok, tl.sum(k * q[None, :], axis=1) * scaling, NEG)
    m_new = tl.maximum(m_i, tl.max(sc, axis=0))
    alpha = tl.exp(m_i - m_new)
    p = tl.where(ok, tl.exp(sc - m_new), 0.0)
    return m_new, l_i * alpha + tl.sum(p, axis=0), acc * alpha + tl.sum(p[:, None] * v, axis=0)


@triton.jit
def _ragged_attention_kernel(q_ptr, k_ptr, v_ptr, ok_ptr, starts_ptr, lengths_ptr,
                             ek_ptr, ev_ptr, eok_ptr, out_ptr,
                             hq, n_q, s_total, d, group, e_len, scaling,
                             HAS_EXTRA: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr):
    b = tl.program_id(0)
    j = tl.program_id(1)
    qi = tl.program_id(2)
    h = j // group
    n_kv = hq // group
    start = tl.load(starts_ptr + h)
    length = tl.load(lengths_ptr + h)
    offs_d = tl.arange(0, BLOCK_D)
    dm = offs_d < d
    q = tl.load(q_ptr + ((b * hq + j) * n_q + qi) * d + offs_d, mask=dm, other=0.0).to(tl.float32)
    limit = length - n_q + qi
    m_i = tl.max(tl.full([BLOCK_T], NEG, tl.float32), axis=0)
    l_i = tl.sum(tl.zeros([BLOCK_T], tl.float32), axis=0)
    acc = tl.zeros([BLOCK_D], tl.float32)
    for t0 in range(0, length, BLOCK_T):
        t = t0 + tl.arange(0, BLOCK_T)
        inside = t < length
        col = start + t
        ok = inside & (t <= limit) & (tl.load(ok_ptr + b * s_total + col, mask=inside, other=0) != 0)
        base = (b * s_total + col)[:, None] * d + offs_d[None, :]
        k = tl.load(k_ptr + base, mask=ok[:, None] & dm[None, :], other=0.0).to(tl.float32)
        v = tl.load(v_ptr + base, mask=ok[:, None] & dm[None, :], other=0.0).to(tl.float32)
        m_i, l_i, acc = _online_softmax_step(q, k, v, ok, scaling, m_i, l_i, acc)
    if HAS_EXTRA:
        for t0 in range(0, e_len, BLOCK_T):
            t = t0 + tl.arange(0, BLOCK_T)
            inside = t < e_len
            row = (b * n_kv + h) * e_len + t
            ok = inside & (tl.load(eok_ptr + row, mask=inside, other=0) != 0)
            base = row[:, None] * d + offs_d[None, :]
            k = tl.load(ek_ptr + base, mask=ok[:, None] & dm[None, :], other=0.0).to(tl.float32)
            v = tl.load(ev_ptr + base, mask=ok[:, None] & dm[None, :], other=0.0).to(tl.float32)
            m_i, l_i, acc = _online_softmax_step(q, k, v, ok, scaling, m_i, l_i, acc)
    out = acc / l_i
    tl.store(out_ptr + ((b * hq + j) * n_q + qi) * d + offs_d, out, mask=dm)


def _pack_extra(extra, b: int, n_kv: int, d: int, like: torch.Tensor):
    """{head: (keys [B, E_h, D], values, valid [B, E_h])} -> [B, H, E, D] x2 and [B, H, E] uint8."""
    e = max(k.shape[1] for k, _, _ in extra.values())
    ek = like.new_zeros(b, n_kv, e, d, dtype=torch.float32)
    ev = like.new_zeros(b, n_kv, e, d, dtype=torch.float32)
    eok = torch.zeros(b, n_kv, e, dtype=torch.uint8, device=like.device)
    for h, (k, v, ok) in extra.items():
        ek[:, h, :k.shape[1]] = k
        ev[:, h, :v.shape[1]] = v
        eok[:, h, :k.shape[1]] = 1 if ok is None else ok
    return ek, ev, eok, e


def ragged_attention_triton(q, keys, values, valid, starts, lengths, scaling, extra=None) -> torch.Tensor:
    b, hq, n_q, d = q.shape
    if values.shape[-1] != d:
        raise ValueError("the kernel assumes value and key head dims are equal")
    n_kv = len(starts)
    dev = q.device
    qc = q.float().contiguous()
    kc, vc = keys.float().contiguous(), values.float().contiguous()
    okc = (torch.ones(keys.shape[:2], dtype=torch.uint8, device=dev) if valid is None
           else valid.to(torch.uint8).contiguous())
    st = torch.tensor(starts, dtype=torch.int64, device=dev)
    ln = torch.tensor(lengths, dtype=torch.int64, device=dev)
    out = torch.empty(b, hq, n_q, d, dtype=torch.float32, device=dev)
    if extra:
        ek, ev, eok, e = _pack_extra(extra, b, n_kv, d, qc)
    else:
        ek = ev = qc.new_zeros(1)
        eok, e = torch.zeros(1, dtype=torch.uint8, device=dev), 0
    _ragged_attention_kernel[(b, hq, n_q)](
        qc, kc, vc, okc, st, ln, ek, ev, eok, out, hq, n_q, keys.shape[1], d, hq // n_kv, e, float(scaling),
        HAS_EXTRA=bool(extra), BLOCK_T=BLOCK_T, BLOCK_D=triton.next_power_of_2(d))
    return out.to(q.dtype)
