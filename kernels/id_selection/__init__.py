"""ID-Selection's iterative importance-diversity selection: torch reference, batched torch, Triton.

Dispatch by device: on CUDA one batched Triton launch pair selects for every
request of a prefill batch (triton_kernel.py), falling back to the batched
torch path (batched.py) where Triton is missing or a request is longer than the
kernel keeps on chip; elsewhere (CPU) the plain torch reference, per request.
"""
from __future__ import annotations

from typing import Sequence

from kernels.id_selection.reference import id_select_reference

__all__ = ["id_select_reference", "id_select", "id_select_batch", "batch_backend"]


def batch_backend(device_type: str, n_max: int) -> str:
    """Which implementation `id_select_batch` uses: "triton", "torch_batched" or "reference"."""
    if device_type != "cuda":
        return "reference"
    try:
        from kernels.id_selection.triton_kernel import MAX_TOKENS
    except ImportError:  # no Triton in this environment
        return "torch_batched"
    return "triton" if n_max <= MAX_TOKENS else "torch_batched"


def id_select_batch(scores: Sequence, feats: Sequence, ks: Sequence[int], gamma: float) -> list:
    """Per request i: the ks[i] picks (pick order, int64) of id_select_reference(scores[i], feats[i])."""
    if not scores:
        return []
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
