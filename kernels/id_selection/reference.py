"""Plain torch reference of ID-Selection's selection loop (arXiv 2604.05601).

Given importance scores S (N,) and token features F (N, D):
    repeat k times:  b = argmax_{j not picked} S_j
                     S_j <- S_j - w_j * S_b,   w_j = exp(-gamma * d_j^2),  d_j = 1 - cos(F_j, F_b)
The pick itself has d = 0, w = 1, so its score drops to 0; picked tokens are
masked out explicitly as well, because suppression can push scores below 0.
Ties go to the lowest index (torch.argmax and tl.argmax both do), which is
what lets the Triton kernel reproduce this loop's kept set exactly.
Returns the picks in pick order; callers sort them to restore the image order.
"""
from __future__ import annotations

import torch


def normalize_rows(feats: torch.Tensor) -> torch.Tensor:
    f = feats.float()
    return f / f.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def id_select_reference(scores: torch.Tensor, feats: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    n = scores.shape[0]
    if not 0 <= k <= n:
        raise ValueError(f"k={k} outside [0, {n}]")
    s = scores.detach().float().clone()
    f = normalize_rows(feats.detach())
    picked = torch.zeros(n, dtype=torch.bool, device=s.device)
    out = torch.empty(k, dtype=torch.long, device=s.device)
    neg_inf = torch.tensor(float("-inf"), device=s.device)
    for i in range(k):
        b = int(torch.argmax(torch.where(picked, neg_inf, s)))
        out[i] = b
        picked[b] = True
        d = 1.0 - f @ f[b]
        s = s - torch.exp(-gamma * d * d) * s[b]
    return out
