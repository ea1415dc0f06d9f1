"""ID-Selection's selection loop for a whole batch in two Triton launches (GPU path).

The loop (reference.py) is sequential in k, and a single program that re-reads
the N x D features for every pick is bound by that re-reading: N x D x k bytes
through one SM. This design moves the feature work into one GEMM and leaves the
sequential part only what it needs:

1. `_weights_kernel`, a batched tiled GEMM (grid: row tiles x column tiles x
   requests): W[b, i, j] = exp(-gamma (1 - cos(f_i, f_j))^2), the suppression
   weight of token i when j is picked, fused into the GEMM's epilogue; W is
   symmetric, so only tiles on and above the diagonal compute (half the
   FLOPs) and each stores its transpose too. The
   features are read once per tile pair at tensor-core speed; 16-bit features
   are multiplied exactly (a bf16/fp16 product fits in fp32) and accumulated in
   fp32, fp32 features use the IEEE (not TF32) path. Cosines come from the raw
   dot products times the rows' inverse norms (computed once in fp32).
2. `_pick_kernel`, one program per request: its N scores and picked mask live in
   registers for all k picks; each pick is one arg-max reduction (value and
   lowest index together), one coalesced load of the pick's row of W (N fp32,
   contiguous) and one fused update. No launches or host syncs between picks.

Requests of different N share the launches (padded to the longest, `lengths`
marks the real tokens; padding is never picked) and may ask for different k.
Exactness: the arithmetic is the reference's (d = 1 - cos, w = exp(-gamma d^2),
S -= w S_best) in fp32, ties go to the lowest index (tl.max's tie-break left,
like torch.argmax), so the picks equal the reference's (tests/kernels under
TRITON_INTERPRET=1), up to fp32 rounding order on inputs tied to a few ulps.
Limits: N up to MAX_TOKENS per request (the scores must fit one program's
registers); the weights of one launch are bounded by
batched.WEIGHTS_BUDGET_BYTES, larger batches run as several launches.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch
import triton
import triton.language as tl

from kernels.id_selection.batched import check_budgets, inverse_norms, pad_batch, request_chunks

MAX_TOKENS = 8192  # 16 warps x 32 threads x 16 fp32 scores per thread: no spilling
# GEMM tiles (rows, cols, depth, warps, pipeline stages) per feature dtype: 128x128x64 is the usual
# Hopper bf16 tile; fp32 runs the IEEE FMA path, where a smaller tile keeps registers in check.
TILES_16BIT = (128, 128, 64, 8, 3)
TILES_FP32 = (64, 64, 32, 4, 2)
TILES_INTERPRETER = (32, 32, 32, 4, 1)  # the CPU interpreter: small tiles, fewer numpy ops
SCORES_PER_THREAD = 16  # the pick kernel's warps: next_pow2(N) / (32 x this), within [1, 16]
MAX_PICK_WARPS = 16


@triton.jit
def _weights_kernel(feats_ptr, rinv_ptr, len_ptr, w_ptr, dim, n_max, gamma,
                    stride_fb, stride_fn, stride_wb, stride_wn,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                    EVEN_K: tl.constexpr, IEEE: tl.constexpr, UPCAST: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)  # only the per-request base offsets need 64 bits
    n = tl.load(len_ptr + b)
    if pid_n < pid_m:  # W is symmetric: the tile above the diagonal stores both halves
        return
    if pid_n * BLOCK_N >= n:
        return
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # Rows past n read a real row instead (wrapped), so loads need no row mask; never stored.
    a_ptrs = feats_ptr + b * stride_fb + (rows % n)[:, None] * stride_fn + offs_k[None, :]
    b_ptrs = feats_ptr + b * stride_fb + (cols % n)[:, None] * stride_fn + offs_k[None, :]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, dim, BLOCK_K):
        if EVEN_K:
            a = tl.load(a_ptrs)
            b_rows = tl.load(b_ptrs)
        else:
            k_ok = (k0 + offs_k) < dim
            a = tl.load(a_ptrs, mask=k_ok[None, :], other=0.0)
            b_rows = tl.load(b_ptrs, mask=k_ok[None, :], other=0.0)
        if UPCAST:  # exact: a bf16 product fits in fp32
            acc = tl.dot(a.to(tl.float32), tl.trans(b_rows.to(tl.float32)), acc, input_precision="ieee")
        elif IEEE:
            acc = tl.dot(a, tl.trans(b_rows), acc, input_precision="ieee")
        else:
            acc = tl.dot(a, tl.trans(b_rows), acc)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K
    row_ok = rows < n
    col_ok = cols < n
    r_i = tl.load(rinv_ptr + b * n_max + rows, mask=row_ok, other=0.0)
    r_j = tl.load(rinv_ptr + b * n_max + cols, mask=col_ok, other=0.0)
    # r_i r_j first: a product commutes exactly, so both halves hold the same bits.
    cos = acc * (r_i[:, None] * r_j[None, :])
    d = 1.0 - cos
    w = tl.exp(-gamma * d * d)
    w_base = w_ptr + b * stride_wb
    tl.store(w_base + rows[:, None] * stride_wn + cols[None, :], w, mask=row_ok[:, None] & col_ok[None, :])
    if pid_n > pid_m:
        tl.store(w_base + cols[:, None] * stride_wn + rows[None, :], tl.trans(w),
                 mask=col_ok[:, None] & row_ok[None, :])


@triton.jit
def _pick_kernel(w_ptr, scores_ptr, len_ptr, k_ptr, out_ptr,
                 stride_wb, stride_wn, stride_sb, stride_ob, BLOCK_N: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    n = tl.load(len_ptr + b)
    k = tl.load(k_ptr + b)
    offs = tl.arange(0, BLOCK_N)
    valid = offs < n
    s = tl.load(scores_ptr + b * stride_sb + offs, mask=valid, other=0.0)
    picked = offs >= n  # padding counts as picked, so it is never chosen
    w_base = w_ptr + b * stride_wb
    for i in range(k):
        masked = tl.where(picked, float("-inf"), s)
        best_val, best = tl.max(masked, axis=0, return_indices=True, return_indices_tie_break_left=True)
        tl.store(out_ptr + b * stride_ob + i, best.to(tl.int64))
        picked = picked | (offs == best)
        w = tl.load(w_base + best.to(tl.int64) * stride_wn + offs, mask=valid, other=0.0)
        s = s - w * best_val


def _interpreting() -> bool:
    # Triton 3.8's CPU interpreter multiplies bf16 tl.dot operands as raw bit patterns (wrong
    # by 1e10); under it the kernel upcasts bf16 tiles to fp32 first, which is exact.
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _tiles(dtype: torch.dtype) -> tuple[int, int, int, int, int]:
    if _interpreting():
        return TILES_INTERPRETER
    return TILES_FP32 if dtype == torch.float32 else TILES_16BIT


def suppression_weights_triton(feats: torch.Tensor, lengths: torch.Tensor, gamma: float) -> torch.Tensor:
    """[B, N, N] float32 suppression weights of padded [B, N, D] features (rows past a length unset)."""
    feats = feats.contiguous()
    if feats.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        feats = feats.float()
    bsz, n_max, dim = feats.shape
    rinv = inverse_norms(feats).contiguous()
    weights = torch.empty(bsz, n_max, n_max, dtype=torch.float32, device=feats.device)
    block_m, block_n, block_k, warps, stages = _tiles(feats.dtype)
    if block_m != block_n:
        raise ValueError("the symmetric weights kernel needs square tiles")
    grid = (triton.cdiv(n_max, block_m), triton.cdiv(n_max, block_n), bsz)
    _weights_kernel[grid](feats, rinv, lengths, weights, dim, n_max, float(gamma),
                          feats.stride(0), feats.stride(1), weights.stride(0), weights.stride(1),
                          BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, EVEN_K=dim % block_k == 0,
                          IEEE=feats.dtype == torch.float32,
                          UPCAST=_interpreting() and feats.dtype == torch.bfloat16,
                          num_warps=warps, num_stages=stages)
    return weights


def picks_triton(weights: torch.Tensor, scores: torch.Tensor, lengths: torch.Tensor,
                 ks: torch.Tensor, k_max: int) -> torch.Tensor:
    """[B, k_max] int64 picks in pick order; entries past a request's k are left unset."""
    bsz, n_max = scores.shape
    scores = scores.float().contiguous()
    out = torch.empty(bsz, max(k_max, 1), dtype=torch.int64, device=scores.device)
    block = triton.next_power_of_2(n_max)
    warps = max(1, min(MAX_PICK_WARPS, block // (32 * SCORES_PER_THREAD)))
    _pick_kernel[(bsz,)](weights, scores, lengths, ks, out, weights.stride(0), weights.stride(1),
                         scores.stride(0), out.stride(0), BLOCK_N=block, num_warps=warps)
    return out[:, :k_max]


def id_select_batch_triton(scores: Sequence[torch.Tensor], feats: Sequence[torch.Tensor],
                           ks: Sequence[int], gamma: float) -> list[torch.Tensor]:
    """Per request, the k picks in pick order (int64), as reference.id_select_reference."""
    lengths = [int(s.shape[0]) for s in scores]
    check_budgets(lengths, ks)
    if max(lengths) > MAX_TOKENS:
        raise ValueError(f"N={max(lengths)} exceeds the kernel's {MAX_TOKENS}; use the torch path")
    out: list[torch.Tensor] = []
    for chunk in request_chunks(lengths):
        chunk_ks = [ks[b] for b in chunk]
        padded_s, padded_f, padded_len = pad_batch([scores[b] for b in chunk], [feats[b] for b in chunk])
        if max(chunk_ks) == 0:
            out += [torch.empty(0, dtype=torch.long, device=padded_s.device) for _ in chunk]
            continue
        weights = suppression_weights_triton(padded_f, padded_len, gamma)
        k_dev = torch.tensor(chunk_ks, dtype=torch.int32, device=padded_s.device)
        picks = picks_triton(weights, padded_s, padded_len, k_dev, max(chunk_ks))
        out += [picks[i, :k] for i, k in enumerate(chunk_ks)]
    return out


def id_select_triton(scores: torch.Tensor, feats: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """One request: the k picks in pick order (int64), as reference.id_select_reference."""
    return id_select_batch_triton([scores], [feats], [k], gamma)[0]
