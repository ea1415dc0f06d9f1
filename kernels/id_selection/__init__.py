"""ID-Selection's iterative importance-diversity selection: torch reference, batched torch, Triton.

At gamma 0 every request takes the plain top-k path (the loop would select the same).
Otherwise dispatch by device: on CUDA one batched Triton launch pair selects for every
request of a prefill batch (triton_kernel.py), falling back to the batched
torch path (batched.py) where Triton is missing or a request is longer than the
kernel keeps on chip; elsewhere (CPU) the plain torch reference, per request.
"""
from __future__ import annotations

from typing import Sequence

import torch

from kernels.id_selection.reference import id_select_reference

__all__ = ["id_select_reference", "id_select", "id_select_batch", "batch_backend", "top_k_picks"]


def batch_backend(device_type: str, n_max: int) -> str:
    """Which implementation `id_select_batch` uses: "triton", "torch_batched" or "reference"."""
    if device_type != "cuda":
        return "reference"
    try:
        from kernels.id_selection.triton_kernel import MAX_TOKENS
    except ImportError:  # no Triton in this environment
        return "torch_batched"
    return "triton" if n_max <= MAX_TOKENS else "torch_batched"


def top_k_picks(scores, k: int):
    """The k highest scores' indices, best first, ties to the lowest index (the loop's order)."""
    if not 0 <= k <= scores.shape[0]:
        raise ValueError(f"k={k} outside [0, {scores.shape[0]}]")
    return torch.sort(scores.detach().float(), descending=True, stable=True).indices[:k]


def id_select_batch(scores: Sequence, feats: Sequence, ks: Sequence[int], gamma: float) -> list:
    """Per request i: the ks[i] picks (pick order, int64) of id_select_reference(scores[i], feats[i])."""
    if not scores:
        return []
    if gamma == 0:
        # No suppression: w = 1 for every token, so each step lowers every score by the same amount
        # and the loop picks the plain top-k. Take that path: no features read, no k-step loop.
        return [top_k_picks(s, k) for s, k in zip(scores, ks)]
    backend = batch_backend(scores[0].device.type, max(int(s.shape[0]) for s in scores))
    if backend == "triton":
        from kernels.id_selection.triton_kernel import id_select_batch_triton
        return id_select_batch_triton(scores, feats, ks, gamma)
    if backend == "torch_batched":
        from kernels.id_selection.batched import id_select_batched_torch
        return id_select_batched_torch(scores, feats, ks, gamma)
    return [id_select_reference(s, f, k, gamma) for s, f, k in zip(scores, feats, ks)]


def id_select(scores, feats, k: int, gamma: float):
    """One request: the batched GPU path on CUDA tensors, the torch reference elsewhere."""
    return id_select_batch([scores], [feats], [k], gamma)[0]
