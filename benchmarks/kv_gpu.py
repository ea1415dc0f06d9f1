"""GPU timing of HybridKV's decode kernels against the torch path and dense attention.

Shapes of a real model: Qwen2.5-VL-7B's language model (28 layers, 28 query / 4 KV heads,
head dim 128) on 8 frames (8 x 256 visual tokens at 448 px, plus the text), bfloat16.
One decode step's attention over all 28 layers, per arm:
  - dense: sdpa over the full cache (what the engine does without a press);
  - hybrid_torch: the torch reference of the ragged path (kernels/hybridkv/reference.py);
  - hybrid_triton: the Triton kernels (chunk scoring, gather, ragged attention);
at the HybridKV layout a budget of `--budget` gives: half the heads static with budget x
visual tokens, half dynamic holding 2 x that in chunks of 16 and retrieving half.
The Triton outputs are checked against the reference before timing.
Run on a GPU machine: python -m benchmarks.kv_gpu; writes benchmarks/results/kv_gpu.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks.provenance import Provenance, interleaved, summarize
from kernels.hybridkv import reference

RESULTS = Path(__file__).resolve().parent / "results" / "kv_gpu.json"
LAYERS, Q_HEADS, KV_HEADS, HEAD_DIM = 28, 28, 4, 128
VISUAL, TEXT, CHUNK = 8 * 256, 120, 16


def layer_layout(budget: float, device, dtype, gen):
    keep = int(budget * VISUAL)
    lengths = [TEXT + keep if h % 2 == 0 else TEXT for h in range(KV_HEADS)]
    starts = [sum(lengths[:h]) for h in range(KV_HEADS)]
    s = sum(lengths)
    keys = torch.randn(1, s, HEAD_DIM, device=device, dtype=dtype, generator=gen)
    values = torch.randn(1, s, HEAD_DIM, device=device, dtype=dtype, generator=gen)
    valid = torch.ones(1, s, dtype=torch.bool, device=device)
    n_chunks = max(1, 2 * keep // CHUNK)
    chunks = {h: (torch.randn(1, n_chunks, CHUNK, HEAD_DIM, device=device, dtype=dtype, generator=gen),
                  torch.randn(1, n_chunks, CHUNK, HEAD_DIM, device=device, dtype=dtype, generator=gen))
              for h in range(KV_HEADS) if h % 2 == 1}
    return keys, values, valid, starts, lengths, chunks, max(1, n_chunks // 2)


def hybrid_step(ops, q, layout):
    keys, values, valid, starts, lengths, chunks, r = layout
    group = Q_HEADS // KV_HEADS
    extra = {}
    for h, (ck, cv) in chunks.items():
        scores = ops.chunk_scores(q[:, h * group:(h + 1) * group], ck.mean(2))
        idx = torch.topk(scores, r, dim=1).indices
        ok = torch.ones(1, r * CHUNK, dtype=torch.bool, device=q.device)
        extra[h] = (ops.gather_chunks(ck, idx), ops.gather_chunks(cv, idx), ok)
    return ops.ragged_attention(q, keys, values, valid, starts, lengths, HEAD_DIM ** -0.5, extra)


class _Triton:
    from kernels.hybridkv.triton_kernel import (chunk_scores_triton as chunk_scores,  # noqa: F401
                                                gather_chunks_triton as gather_chunks,
                                                ragged_attention_triton as ragged_attention)


def time_ms(fn, iters: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("kv_gpu needs a CUDA device")
    prov = Provenance(seeds={"tensors": 0})   # VIGIL_COMMIT names the commit where the tree came without .git
    dev, dtype = torch.device("cuda"), torch.bfloat16
    gen = torch.Generator(device=dev).manual_seed(0)
    q = torch.randn(1, Q_HEADS, 1, HEAD_DIM, device=dev, dtype=dtype, generator=gen)
    dense_k = torch.randn(LAYERS, 1, KV_HEADS, VISUAL + TEXT, HEAD_DIM, device=dev, dtype=dtype, generator=gen)
    dense_v = torch.randn_like(dense_k)
    layouts = [layer_layout(args.budget, dev, dtype, gen) for _ in range(LAYERS)]
    err = max(float((hybrid_step(_Triton, q, lay).float() - hybrid_step(reference, q, lay).float()).abs().max())
              for lay in layouts[:2])

    def dense():
        for i in range(LAYERS):
            torch.nn.functional.scaled_dot_product_attention(q, dense_k[i], dense_v[i], enable_gqa=True)

    arms = {"dense_sdpa": dense,
            "hybrid_torch": lambda: [hybrid_step(reference, q, lay) for lay in layouts],
            "hybrid_triton": lambda: [hybrid_step(_Triton, q, lay) for lay in layouts]}
    ms = {name: [] for name in arms}
    for _, name in interleaved(list(arms), args.repeats):
        ms[name].append(time_ms(arms[name], args.iters))
    out = {"shape": {"layers": LAYERS, "q_heads": Q_HEADS, "kv_heads": KV_HEADS, "head_dim": HEAD_DIM,
                     "visual_tokens": VISUAL, "text_tokens": TEXT, "chunk": CHUNK, "budget": args.budget,
                     "dtype": str(dtype)},
           "triton_vs_reference_max_abs_err": err,
           "ms_per_decode_step_all_layers": {k: summarize(v) for k, v in ms.items()},
           "provenance": prov.finish(repeats=args.repeats)}
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["ms_per_decode_step_all_layers"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
