"""ID-Selection for a whole prefill batch in torch: padding, suppression weights, device-side picks.

The selection loop (reference.py) is sequential in k, and each pick needs one
row of cosine similarities to the pick. Two facts shape a batched version:
- every row a pick can need is a row of the cosine Gram matrix, so one batched
  GEMM computes them all up front (N^2 D work, but at tensor-core speed instead
  of k dependent matrix-vector products), and the suppression weight
  w = exp(-gamma (1 - cos)^2) is then a fixed matrix W;
- the picks of different requests are independent, so one loop of k steps
  serves every request at once ([B, N] scores), with no host sync inside it.
Requests of different N are padded to the longest (`lengths` marks the real
tokens; padding counts as already picked) and may ask for different k (`ks`;
the loop runs max(ks) steps and each request keeps its first k picks, which do
not depend on later steps).

This is the torch fallback of the Triton path (triton_kernel.py), used where
Triton is missing or N exceeds what the kernel keeps on chip; it is still
bound by one kernel launch per op and step, so it helps a batch far more than
a single request. The Gram matrix is computed in true fp32 (TF32 off for the
duration), so picks match the reference's up to fp32 rounding order; ties go
to the lowest index (torch.max returns the first maximum, as argmax does).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch

NORM_EPS = 1e-12  # as reference.normalize_rows: an all-zero feature row has cosine 0 to all
FP32_BYTES = 4
# The weights of one launch stay below this: 16 requests of 4,096 tokens (1 GiB), a small share of
# a serving GPU; larger batches run as several launches ("block-wise" over requests).
WEIGHTS_BUDGET_BYTES = 1 << 30


def pad_batch(scores: Sequence[torch.Tensor], feats: Sequence[torch.Tensor]
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[B, N] float32 scores, [B, N, D] features (their dtype), [B] int32 lengths; N = the longest."""
    if len(scores) != len(feats) or not scores:
        raise ValueError("need one (scores, feats) pair per request, at least one")
    dims = {int(f.shape[-1]) for f in feats}
    if len(dims) != 1:
        raise ValueError(f"requests disagree on the feature width: {sorted(dims)}")
    for s, f in zip(scores, feats):
        if s.dim() != 1 or f.dim() != 2 or s.shape[0] != f.shape[0]:
            raise ValueError(f"scores {tuple(s.shape)} and feats {tuple(f.shape)} disagree on N")
    lengths = [int(s.shape[0]) for s in scores]
    n_max, device = max(lengths), feats[0].device
    if all(n == n_max for n in lengths):
        padded_s = torch.stack([s.detach().float() for s in scores])
        padded_f = torch.stack([f.detach() for f in feats])
    else:
        padded_s = scores[0].new_zeros((len(scores), n_max), dtype=torch.float32)
        padded_f = feats[0].new_zeros((len(feats), n_max, dims.pop()))
        for b, (s, f) in enumerate(zip(scores, feats)):
            padded_s[b, : s.shape[0]] = s.detach().float()
            padded_f[b, : f.shape[0]] = f.detach()
    return (padded_s.to(device), padded_f.contiguous(),
            torch.tensor(lengths, dtype=torch.int32, device=device))


def request_chunks(lengths: Sequence[int], budget_bytes: int = WEIGHTS_BUDGET_BYTES) -> list[list[int]]:
    """Consecutive groups of requests whose padded [b, N, N] fp32 weights fit `budget_bytes`.

    A request too large for the budget on its own still gets a group of one.
    """
    groups: list[list[int]] = []
    n_max = 0
    for i, n in enumerate(lengths):
        grown = max(n_max, n)
        if groups and (len(groups[-1]) + 1) * grown * grown * FP32_BYTES <= budget_bytes:
            groups[-1].append(i)
            n_max = grown
        else:
            groups.append([i])
            n_max = n
    return groups


def check_budgets(lengths: Sequence[int], ks: Sequence[int]) -> None:
    if len(lengths) != len(ks):
        raise ValueError("need one k per request")
    for n, k in zip(lengths, ks):
        if not 0 <= k <= n:
            raise ValueError(f"k={k} outside [0, {n}]")


def inverse_norms(feats: torch.Tensor) -> torch.Tensor:
    """1 / max(||f||, eps) per row, accumulated in fp32 whatever the features' dtype."""
    norms = torch.linalg.vector_norm(feats, dim=-1, dtype=torch.float32)
    return 1.0 / norms.clamp_min(NORM_EPS)


@contextlib.contextmanager
def _true_fp32_matmul() -> Iterator[None]:
    # TF32 rounds the inputs to 10 mantissa bits: enough to flip near-tied picks.
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def suppression_weights(feats: torch.Tensor, gamma: float) -> torch.Tensor:
    """[B, N, N] float32 W[b, i, j] = exp(-gamma (1 - cos(f_i, f_j))^2), by one batched GEMM."""
    f = feats.float() * inverse_norms(feats).unsqueeze(-1)
    with _true_fp32_matmul():
        cos = torch.bmm(f, f.transpose(1, 2))
    d = 1.0 - cos
    return torch.exp(-gamma * d * d)


def picks_from_weights(weights: torch.Tensor, scores: torch.Tensor, lengths: torch.Tensor,
                       k_max: int) -> torch.Tensor:
    """[B, k_max] picks (pick order) of the selection loop over precomputed weights.

    A request with fewer than k_max valid tokens gets meaningless trailing picks;
    callers keep each request's first k.
    """
    bsz, n_max = scores.shape
    device = scores.device
    s = scores.float().clone()
    picked = torch.arange(n_max, device=device).unsqueeze(0) >= lengths.to(device).long().unsqueeze(1)
    out = torch.empty(bsz, k_max, dtype=torch.long, device=device)
    rows = torch.arange(bsz, device=device)
    for i in range(k_max):
        best_val, best = s.masked_fill(picked, float("-inf")).max(dim=1)
        out[:, i] = best
        picked[rows, best] = True
        s = s - weights[rows, best] * best_val.unsqueeze(1)
    return out


def id_select_batched_torch(scores: Sequence[torch.Tensor], feats: Sequence[torch.Tensor],
                            ks: Sequence[int], gamma: float) -> list[torch.Tensor]:
    """Per request, the same picks as reference.id_select_reference, for the whole batch at once."""
    check_budgets([int(s.shape[0]) for s in scores], ks)
    out: list[torch.Tensor] = []
    for chunk in request_chunks([int(s.shape[0]) for s in scores]):
        chunk_ks = [ks[b] for b in chunk]
        padded_s, padded_f, lengths = pad_batch([scores[b] for b in chunk], [feats[b] for b in chunk])
        if max(chunk_ks) == 0:
            out += [torch.empty(0, dtype=torch.long, device=padded_s.device) for _ in chunk]
            continue
        picks = picks_from_weights(suppression_weights(padded_f, gamma), padded_s, lengths,
                                   max(chunk_ks))
        out += [picks[i, :k] for i, k in enumerate(chunk_ks)]
    return out
