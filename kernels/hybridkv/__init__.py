"""HybridKV's decode hot path: chunk scoring, top-k chunk gather, ragged attention.

Each op dispatches to its Triton kernel on CUDA tensors and to the torch reference
elsewhere (the CPU path). Both have the same contract (reference.py).
"""
from __future__ import annotations

from kernels.hybridkv import reference

__all__ = ["chunk_scores", "gather_chunks", "ragged_attention"]


def chunk_scores(q, summaries):
    if q.is_cuda:
        from kernels.hybridkv.triton_kernel import chunk_scores_triton
        return chunk_scores_triton(q, summaries)
    return reference.chunk_scores(q, summaries)


def gather_chunks(chunks, index):
    if chunks.is_cuda:
        from kernels.hybridkv.triton_kernel import gather_chunks_triton
        return gather_chunks_triton(chunks, index)
    return reference.gather_chunks(chunks, index)


def ragged_attention(q, keys, values, valid, starts, lengths, scaling, extra=None):
    if q.is_cuda:
        from kernels.hybridkv.triton_kernel import ragged_attention_triton
        return ragged_attention_triton(q, keys, values, valid, starts, lengths, scaling, extra)
    return reference.ragged_attention(q, keys, values, valid, starts, lengths, scaling, extra)
