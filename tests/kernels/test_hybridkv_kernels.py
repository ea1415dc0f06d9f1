"""HybridKV's Triton kernels against their torch references, under TRITON_INTERPRET=1.

The interpreter flag is read when Triton decorates a kernel, so the comparison runs in
a fresh interpreter process with the flag set. Shapes are small (the interpreter is slow)
but cover GQA groups, several query positions (causal tail), rows with left padding,
heads with different lengths and chunk sets padded with empty chunks.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from kernels.hybridkv import chunk_scores, gather_chunks, ragged_attention, reference

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, torch
from kernels.hybridkv import reference as ref
from kernels.hybridkv import triton_kernel as tk

def case(seed, b, n_kv, group, n_q, d, lengths, chunks, c):
    g = torch.Generator().manual_seed(seed)
    hq = n_kv * group
    q = torch.randn(b, hq, n_q, d, generator=g)
    spare = 3
    starts = [sum(l + spare for l in lengths[:h]) for h in range(n_kv)]
    s = sum(l + spare for l in lengths)
    keys, values = torch.randn(b, s, d, generator=g), torch.randn(b, s, d, generator=g)
    valid = torch.zeros(b, s, dtype=torch.bool)
    for h, (st, ln) in enumerate(zip(starts, lengths)):
        for row in range(b):
            pad = (row + h) % 3 if ln > 3 else 0     # rows left-padded by different amounts
            valid[row, st + pad:st + ln] = True
    extra = {}
    res = {}
    for h, n in chunks.items():
        h = int(h)
        store = torch.randn(b, n, c, d, generator=g)
        summ = store.mean(2)
        qh = q[:, h * group:(h + 1) * group]
        res[f"scores{h}"] = float((tk.chunk_scores_triton(qh, summ) - ref.chunk_scores(qh, summ)).abs().max())
        idx = torch.stack([torch.randperm(n, generator=g)[:max(1, n // 2)] for _ in range(b)])
        gk, rk = tk.gather_chunks_triton(store, idx), ref.gather_chunks(store, idx)
        res[f"gather{h}"] = bool(torch.equal(gk, rk))
        ok = torch.rand(b, gk.shape[1], generator=g) > 0.2
        extra[h] = (rk, ref.gather_chunks(torch.randn(b, n, c, d, generator=g), idx), ok)
    out_t = tk.ragged_attention_triton(q, keys, values, valid, starts, lengths, d ** -0.5, extra)
    out_r = ref.ragged_attention(q, keys, values, valid, starts, lengths, d ** -0.5, extra)
    res["attention"] = float((out_t - out_r).abs().max())
    return res

cases = [
    (0, 1, 2, 2, 1, 16, [5, 9], {}, 4),
    (1, 2, 3, 3, 1, 32, [70, 7, 130], {"1": 6}, 4),
    (2, 3, 2, 4, 3, 24, [40, 66], {"0": 5, "1": 9}, 8),
    (3, 2, 4, 1, 2, 64, [2, 17, 64, 65], {"2": 3}, 16),
]
print(json.dumps([case(*c) for c in cases]))
"""


def test_triton_kernels_equal_the_references():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    for case in json.loads(res.stdout.strip().splitlines()[-1]):
        assert case["attention"] < 1e-5, case
        for key, value in case.items():
            if key.startswith("gather"):
                assert value is True, case
            elif key.startswith("scores"):
                assert value < 1e-5, case


def test_cpu_dispatch_uses_the_references():
    g = torch.Generator().manual_seed(5)
    q, summ = torch.randn(2, 3, 1, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    assert torch.equal(chunk_scores(q, summ), reference.chunk_scores(q, summ))
    chunks, idx = torch.randn(2, 5, 4, 8, generator=g), torch.tensor([[4, 0], [2, 3]])
    assert torch.equal(gather_chunks(chunks, idx), reference.gather_chunks(chunks, idx))
    keys, values = torch.randn(2, 10, 8, generator=g), torch.randn(2, 10, 8, generator=g)
    valid = torch.ones(2, 10, dtype=torch.bool)
    q = torch.randn(2, 4, 1, 8, generator=g)
    assert torch.equal(ragged_attention(q, keys, values, valid, [0, 6], [6, 4], 0.3),
                       reference.ragged_attention(q, keys, values, valid, [0, 6], [6, 4], 0.3))


def test_reference_attention_equals_dense_attention_over_each_head_segment():
    """A head's segment is exactly what dense attention over that head's tokens sees."""
    g = torch.Generator().manual_seed(6)
    q = torch.randn(1, 4, 1, 8, generator=g)
    k, v = torch.randn(1, 2, 7, 8, generator=g), torch.randn(1, 2, 7, 8, generator=g)
    dense = torch.nn.functional.scaled_dot_product_attention(q, k.repeat_interleave(2, 1),
                                                             v.repeat_interleave(2, 1))
    flat_k, flat_v = torch.cat([k[:, 0], k[:, 1]], 1), torch.cat([v[:, 0], v[:, 1]], 1)
    out = reference.ragged_attention(q, flat_k, flat_v, torch.ones(1, 14, dtype=torch.bool),
                                     [0, 7], [7, 7], 8 ** -0.5)
    assert torch.allclose(out, dense, atol=1e-6)
