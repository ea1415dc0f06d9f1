"""The batched Triton selection and the batched torch path against the torch reference.

The Triton kernels run under TRITON_INTERPRET=1, in a fresh interpreter process:
the flag is read when Triton decorates the kernel, and other tests may have
imported Triton without it. Exact means the same picks in the same order.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kernels.id_selection import batch_backend, id_select, id_select_batch
from kernels.id_selection.batched import (FP32_BYTES, id_select_batched_torch, pad_batch,
                                          request_chunks)
from kernels.id_selection.reference import id_select_reference

ROOT = Path(__file__).resolve().parents[2]

# (N, D, k, gamma): D off and on the tile size, N across several tiles, k = N, gamma = 0 (top-k).
SINGLE = [(10, 8, 4, 20.0), (37, 20, 12, 20.0), (64, 33, 64, 5.0), (100, 16, 30, 0.0), (130, 70, 16, 20.0),
          (48, 64, 10, 20.0)]
# One batch of requests of different N and k (k = 0 and k = N included), same D.
BATCH = {"ns": [5, 40, 17, 64, 33], "ks": [5, 10, 0, 20, 7], "dim": 24}

SCRIPT = """
import json, sys, torch
from kernels.id_selection.triton_kernel import id_select_batch_triton, id_select_triton
from kernels.id_selection.reference import id_select_reference
single, batch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {"single": [], "batch": [], "ties": []}
for n, d, k, g in single:
    gen = torch.Generator().manual_seed(n)
    s, f = torch.rand(n, generator=gen), torch.randn(n, d, generator=gen)
    out["single"].append([id_select_triton(s, f, k, g).tolist(), id_select_reference(s, f, k, g).tolist()])
gen = torch.Generator().manual_seed(7)
scores = [torch.rand(n, generator=gen) for n in batch["ns"]]
feats = [torch.randn(n, batch["dim"], generator=gen) for n in batch["ns"]]
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    fd = [f.to(dtype) for f in feats]
    got = [p.tolist() for p in id_select_batch_triton(scores, fd, batch["ks"], 20.0)]
    want = [id_select_reference(s, f, k, 20.0).tolist() for s, f, k in zip(scores, fd, batch["ks"])]
    out["batch"].append([str(dtype), got, want])
dup = torch.randn(6, 16, generator=gen).repeat(4, 1)  # every feature four times
for s in (torch.ones(24), torch.rand(6, generator=gen).repeat(4)):
    got = id_select_batch_triton([s, s[:12]], [dup, dup[:12]], [24, 12], 20.0)
    out["ties"].append([[p.tolist() for p in got],
                        [id_select_reference(s, dup, 24, 20.0).tolist(),
                         id_select_reference(s[:12], dup[:12], 12, 20.0).tolist()]])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def interpreted():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(SINGLE), json.dumps(BATCH)],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_triton_single_requests_pick_exactly_what_the_reference_picks(interpreted):
    for (n, d, k, g), (kernel, ref) in zip(SINGLE, interpreted["single"]):
        assert kernel == ref, (n, d, k, g)
        assert len(set(kernel)) == k


def test_triton_batch_of_different_lengths_and_budgets_is_exact_in_every_dtype(interpreted):
    assert len(interpreted["batch"]) == 3
    for dtype, got, want in interpreted["batch"]:
        assert got == want, dtype
        assert [len(p) for p in got] == BATCH["ks"]
        assert all(max(p, default=0) < n for p, n in zip(got, BATCH["ns"]))  # padding never picked


def test_triton_ties_go_to_the_lowest_index_like_the_reference(interpreted):
    for got, want in interpreted["ties"]:
        assert got == want
        assert got[0][0] < 6   # each maximum is tied four times (every 6th token): the first one wins


def test_batched_torch_path_matches_the_reference_on_cpu():
    gen = torch.Generator().manual_seed(3)
    ns, ks = [30, 7, 52, 52], [12, 7, 0, 52]
    scores = [torch.rand(n, generator=gen) for n in ns]
    feats = [torch.randn(n, 20, generator=gen) for n in ns]
    for gamma in (20.0, 0.0):
        got = id_select_batched_torch(scores, feats, ks, gamma)
        want = [id_select_reference(s, f, k, gamma) for s, f, k in zip(scores, feats, ks)]
        assert [g.tolist() for g in got] == [w.tolist() for w in want]


def test_weights_budget_splits_batches_and_keeps_order():
    n = 100
    one = n * n * FP32_BYTES
    assert request_chunks([n] * 5, budget_bytes=2 * one) == [[0, 1], [2, 3], [4]]
    assert request_chunks([n, 10, 10, 2 * n], budget_bytes=3 * one) == [[0, 1, 2], [3]]
    assert request_chunks([4 * n], budget_bytes=one) == [[0]]  # too big alone: still served


def test_padding_and_budget_errors_are_clear():
    s, f = torch.rand(4), torch.randn(4, 3)
    with pytest.raises(ValueError, match="feature width"):
        pad_batch([s, s], [f, torch.randn(4, 5)])
    with pytest.raises(ValueError, match="disagree on N"):
        pad_batch([s], [torch.randn(5, 3)])
    with pytest.raises(ValueError, match="outside"):
        id_select_batched_torch([s], [f], [5], 20.0)
    padded_s, padded_f, lengths = pad_batch([s, s[:2]], [f, f[:2]])
    assert padded_s.shape == (2, 4) and padded_f.shape == (2, 4, 3) and lengths.tolist() == [4, 2]
    assert float(padded_s[1, 2:].abs().sum()) == 0.0


def test_dispatch_cpu_keeps_the_reference_and_cuda_picks_triton_within_its_limit():
    from kernels.id_selection.triton_kernel import MAX_TOKENS

    assert batch_backend("cpu", 100) == "reference"
    assert batch_backend("cuda", MAX_TOKENS) == "triton"
    assert batch_backend("cuda", MAX_TOKENS + 1) == "torch_batched"
    gen = torch.Generator().manual_seed(2)
    s, f = torch.rand(40, generator=gen), torch.randn(40, 8, generator=gen)
    assert torch.equal(id_select(s, f, 10, 20.0), id_select_reference(s, f, 10, 20.0))
    assert [p.tolist() for p in id_select_batch([s, s], [f, f], [3, 5], 20.0)] == \
        [id_select_reference(s, f, k, 20.0).tolist() for k in (3, 5)]


def test_reference_first_pick_is_the_most_important_and_all_picks_distinct():
    gen = torch.Generator().manual_seed(0)
    s, f = torch.rand(50, generator=gen), torch.randn(50, 8, generator=gen)
    picks = id_select_reference(s, f, 50, 20.0)
    assert int(picks[0]) == int(torch.argmax(s))
    assert sorted(picks.tolist()) == list(range(50))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here; the compiled kernel runs on a GPU")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_compiled_kernel_on_cuda_matches_the_reference(dtype):
    gen = torch.Generator(device="cuda").manual_seed(11)
    ns, ks, dim = [576, 300, 1296, 17], [64, 300, 32, 5], 1024
    scores = [torch.rand(n, generator=gen, device="cuda") for n in ns]
    feats = [torch.randn(n, dim, generator=gen, device="cuda").to(dtype) for n in ns]
    assert batch_backend("cuda", max(ns)) == "triton"
    got = id_select_batch(scores, feats, ks, 20.0)
    want = [id_select_reference(s, f, k, 20.0) for s, f, k in zip(scores, feats, ks)]
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
    torch_batched = id_select_batched_torch(scores, feats, ks, 20.0)
    assert [g.tolist() for g in torch_batched] == [w.tolist() for w in want]


def _compile_for_hopper(fn, types: dict, constexprs: dict, **options) -> str:
    """ptxas resource usage of `fn` compiled ahead of time for sm_90 (no GPU or driver needed)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {name: ("constexpr" if name in constexprs else types[name]) for name in fn.arg_names}
    kernel = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                            target=GPUTarget("cuda", 90, 32), options=options)
    cubin = Path(os.environ.get("TMPDIR", "/tmp")) / f"vigil-{fn.__name__}-{os.getpid()}.cubin"
    cubin.write_bytes(kernel.asm["cubin"])
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    try:
        usage = subprocess.run([str(tool), "-res-usage", str(cubin)], capture_output=True, text=True,
                               timeout=60).stdout
    finally:
        cubin.unlink()
    return usage + ("wgmma" if "wgmma" in kernel.asm["ptx"] else "")


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled-kernel test covers this")
def test_kernels_compile_for_hopper_with_tensor_cores_and_no_spilled_scores():
    from kernels.id_selection import triton_kernel as tk

    if not hasattr(tk._pick_kernel, "arg_names") or os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("Triton is interpreting in this process")
    block_m, block_n, block_k, warps, stages = tk.TILES_16BIT
    gemm = _compile_for_hopper(
        tk._weights_kernel,
        dict(feats_ptr="*bf16", rinv_ptr="*fp32", len_ptr="*i32", w_ptr="*fp32", dim="i32", n_max="i32",
             gamma="fp32", stride_fb="i32", stride_fn="i32", stride_wb="i32", stride_wn="i32"),
        dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, EVEN_K=True, IEEE=False, UPCAST=False),
        num_warps=warps, num_stages=stages)
    assert "wgmma" in gemm   # Hopper tensor cores for bf16 features
    picks = _compile_for_hopper(
        tk._pick_kernel,
        dict(w_ptr="*fp32", scores_ptr="*fp32", len_ptr="*i32", k_ptr="*i32", out_ptr="*i64",
             stride_wb="i32", stride_wn="i32", stride_sb="i32", stride_ob="i32"),
        dict(BLOCK_N=tk.MAX_TOKENS), num_warps=tk.MAX_PICK_WARPS)
    assert "STACK:0" in picks and "LOCAL:0" in picks   # all 8,192 scores stay in registers


def test_gamma_zero_takes_the_plain_top_k_path_and_selects_what_the_loop_selects(monkeypatch):
    import kernels.id_selection as ids

    gen = torch.Generator().manual_seed(5)
    scores = [torch.rand(n, generator=gen) for n in (30, 64)] + [torch.tensor([0.5, 0.9, 0.5, 0.9, 0.1])]
    feats = [torch.randn(int(s.shape[0]), 12, generator=gen) for s in scores]
    ks = [10, 64, 3]
    want = [id_select_reference(s, f, k, 0.0).tolist() for s, f, k in zip(scores, feats, ks)]

    def no_loop(*a, **k):
        raise AssertionError("gamma 0 must not run the selection loop")

    monkeypatch.setattr(ids, "id_select_reference", no_loop)
    got = ids.id_select_batch(scores, feats, ks, 0.0)
    assert [g.tolist() for g in got] == want   # same picks, same order, ties to the lowest index
    assert got[2].tolist() == [1, 3, 0]
