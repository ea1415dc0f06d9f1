"""ID-Selection's selection loop as one Triton program (GPU path; CPU uses reference.py).

The loop is sequential in k (each pick changes every score), so it cannot be
parallelised across picks; what a GPU kernel saves is the k kernel launches and
host syncs of the torch loop (argmax -> .item() -> row product -> update, k
times). One program keeps the N scores and the picked mask in registers and,
per pick, streams the (pre-normalised, L2-resident) feature matrix in column
chunks to get every token's cosine to the pick. Ties go to the lowest index
(tl.argmax's default, like torch.argmax), and the arithmetic follows the
reference (d = 1 - cos, w = exp(-gamma d²), S -= w S_best), so the kept set
matches the reference exactly on ordinary inputs (tests/kernels under
TRITON_INTERPRET=1). Limits: one selection per launch, N up to MAX_TOKENS.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.id_selection.reference import normalize_rows

MAX_TOKENS = 8192  # scores live in one block of registers


@triton.jit
def _id_select_kernel(scores_ptr, feats_ptr, out_ptr, n, dim, k, gamma,
                      BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    valid = offs_n < n
    s = tl.load(scores_ptr + offs_n, mask=valid, other=0.0).to(tl.float32)
    picked = offs_n >= n  # padding lanes count as picked so they are never chosen
    for i in range(k):
        masked = tl.where(picked, float("-inf"), s)
        best = tl.argmax(masked, axis=0)
        tl.store(out_ptr + i, best.to(tl.int64))
        s_best = tl.sum(tl.where(offs_n == best, s, 0.0), axis=0)
        picked = picked | (offs_n == best)
        cos = tl.zeros([BLOCK_N], dtype=tl.float32)
        for d0 in range(0, dim, BLOCK_D):
            cols = d0 + offs_d
            cmask = cols < dim
            row = tl.load(feats_ptr + best * dim + cols, mask=cmask, other=0.0)
            tile = tl.load(feats_ptr + offs_n[:, None] * dim + cols[None, :],
                           mask=valid[:, None] & cmask[None, :], other=0.0)
            cos += tl.sum(tile * row[None, :], axis=1)
        d = 1.0 - cos
        s = s - tl.exp(-gamma * d * d) * s_best


def id_select_triton(scores: torch.Tensor, feats: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """Same contract as id_select_reference: the k picks in pick order (int64)."""
    n, dim = feats.shape
    if scores.shape[0] != n:
        raise ValueError("scores and feats disagree on N")
    if not 0 <= k <= n:
        raise ValueError(f"k={k} outside [0, {n}]")
    if n > MAX_TOKENS:
        raise ValueError(f"N={n} exceeds the kernel's {MAX_TOKENS}; use the reference")
    f = normalize_rows(feats.detach()).contiguous()
    s = scores.detach().float().contiguous()
    out = torch.empty(k, dtype=torch.int64, device=s.device)
    if k == 0:
        return out
    block_n = triton.next_power_of_2(n)
    block_d = max(16, min(triton.next_power_of_2(dim), 8192 // block_n if block_n <= 512 else 16))
    _id_select_kernel[(1,)](s, f, out, n, dim, k, float(gamma), BLOCK_N=block_n, BLOCK_D=block_d)
    return out
