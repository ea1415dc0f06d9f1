"""GPU benchmark: the batched ID-Selection kernel and the engine on CUDA (writes benchmarks/results/gpu.json).

Runs only where CUDA is present; elsewhere it says so and exits 0 (its CPU-side
logic is tested in tests/benchmarks/test_gpu_bench.py). Under 5 minutes on one
H100/H200. Three sections, arms interleaved, medians with 95% intervals:

1. kernel: ID-Selection's selection for one request (kernels/id_selection, the
   batched Triton path with B = 1) against the plain torch loop
   (reference.py, what a careful engineer writes first), at the token counts,
   widths and budgets of real VLM prompts (LLaVA-1.5's 576 tokens to 8,192),
   random scores and features, features in bf16 (what the engine feeds on a GPU)
   and fp32. Each row checks the picks are identical and puts the physical
   limit beside it: read the features once, the Gram GEMM at peak, k rows of N.
2. batch: 16 requests in one launch against 16 single launches, 16 torch loops
   and the batched torch fallback, same and mixed token counts.
3. engine: ModelRunner (cloud/engine/runner.py) in bf16 with SDPA on a model
   of Qwen2.5-VL-7B's geometry with random weights (timing needs no trained
   weights): a prefill batch with and without ID-Selection to 64 visual tokens
   per image; and serving B requests (B = 1, 16) to a fixed number of new tokens,
   the engine's batched prefill + decode against transformers' `generate` one
   request at a time. Both arms decode unconstrained with EOS masked, so every
   request makes the same number of tokens (the JSON grammar's cost is CPU-side
   and measured by benchmarks/serve.py; xgrammar need not be installed here).
Headline keys: kernel_speedup_min (smallest torch/kernel ratio over the bf16
rows; fp32 separately), engine_prefill_speedup_64, engine_decode_ratio_16.
Needs torch and Triton for the kernel sections; the engine section also needs
transformers, pydantic, numpy and Pillow, and is skipped (with a note in the
JSON) where one is missing. Run: `python -m benchmarks.gpu` from the repository
root; `--skip-engine` for the kernel sections alone; `VIGIL_COMMIT=<hash>` names
the commit where the tree was copied without its .git.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmarks.provenance import Provenance, interleaved, ratio, summarize

RESULTS = Path(__file__).parent / "results" / "gpu.json"
# (N tokens, D width, k picks): LLaVA-1.5 (576 x 1024 CLIP / 4096 LM), Qwen2.5-VL-7B at 1008 px
# (1296 x 3584), several images per event (2304, 4608), and a long video-like prompt (8192).
KERNEL_SHAPES = [(576, 1024, 16), (576, 4096, 64), (576, 4096, 192), (1296, 3584, 64),
                 (2304, 4096, 128), (4608, 4096, 256), (8192, 1024, 64)]
KERNEL_DTYPES = ("bfloat16", "float32")
BATCH = 16
BATCH_SHAPES = [
    {"name": "same_576x4096_k64", "ns": [576] * BATCH, "dim": 4096, "k": 64},
    {"name": "mixed_256to1296x3584_k64", "ns": [256 + 64 * i for i in range(BATCH)], "dim": 3584, "k": 64},
]
GAMMA = 20.0           # PrunerConfig's default
KERNEL_REPEATS = 7
ENGINE_REPEATS = 3
PRUNE_BUDGET = 64      # visual tokens kept per image in the pruned prefill arm
PREFILL_BATCH = 4      # requests in the timed prefill
PREFILL_SIDE = 1008    # px: 36 x 36 = 1296 visual tokens per image in Qwen2.5-VL
DECODE_SIDE = 448      # px: 256 visual tokens per image
DECODE_BATCHES = (1, BATCH)
NEW_TOKENS = 32        # per request in the decode arms
TIME_BUDGET_S = 270    # sections that would start past this are skipped (and say so)
SEED = 0
FP32_BYTES = 4
ENGINE_PACKAGES = ("transformers", "pydantic", "numpy", "PIL")


@dataclass(frozen=True)
class GpuSpec:
    """Datasheet peaks (dense): HBM bytes/s and tensor-core bf16 / plain fp32 FLOP/s."""

    name: str
    hbm_bytes_per_s: float
    bf16_flops: float
    fp32_flops: float


# Matched on the device name, most specific first.
GPU_SPECS = [
    GpuSpec("H200", 4.8e12, 989e12, 67e12),
    GpuSpec("H100 PCIe", 2.0e12, 756e12, 51e12),
    GpuSpec("H100", 3.35e12, 989e12, 67e12),
    GpuSpec("A100", 2.0e12, 312e12, 19.5e12),
]


def gpu_spec(device_name: str) -> GpuSpec | None:
    for spec in GPU_SPECS:
        if spec.name in device_name:
            return spec
    return None


def physical_limit(n: int, dim: int, k: int, feat_bytes: int, spec: GpuSpec | None) -> dict[str, Any]:
    """Lower bounds on one selection at datasheet peaks.

    limit_us: the algorithm's floor: read the features once, or compute the k similarity rows
    it needs (2 k N D FLOP), whichever is longer, plus reading k rows of N fp32 weights.
    full_gram_us: the floor of this kernel's design, which computes all N rows because which
    k are needed is only known one pick at a time (N^2 D FLOP: the symmetric half of 2 N^2 D).
    """
    if spec is None:
        return {"limit_us": None, "why": "unknown GPU: no datasheet peaks"}
    flops = spec.bf16_flops if feat_bytes == 2 else spec.fp32_flops
    read = n * dim * feat_bytes / spec.hbm_bytes_per_s
    needed_rows = 2.0 * k * n * dim / flops
    full_gram = 1.0 * n * n * dim / flops
    rows = k * n * FP32_BYTES / spec.hbm_bytes_per_s
    return {"features_read_us": read * 1e6, "needed_rows_gemm_us": needed_rows * 1e6,
            "pick_rows_us": rows * 1e6, "limit_us": (max(read, needed_rows) + rows) * 1e6,
            "full_gram_us": (max(read, full_gram) + rows) * 1e6}


def time_call(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    """Wall milliseconds of fn(), the device drained before and after."""
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - t0) * 1e3


def measure(arms: dict[str, Callable[[], Any]], repeats: int, sync: Callable[[], None]) -> dict[str, list[float]]:
    """One warm-up per arm (compiles, caches), then `repeats` interleaved timings per arm."""
    for fn in arms.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _, name in interleaved(list(arms), repeats):
        times[name].append(time_call(arms[name], sync))
    return times


def first_mismatch(a: list[int], b: list[int]) -> int | None:
    """Index of the first differing pick (None when identical)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


# -- 1. kernel ----------------------------------------------------------------------------
def kernel_rows(device: str, shapes, dtypes, repeats: int, select: Callable, sync: Callable,
                spec: GpuSpec | None) -> list[dict]:
    import torch

    from kernels.id_selection.reference import id_select_reference

    rows = []
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        for n, dim, k in shapes:
            gen = torch.Generator(device=device).manual_seed(SEED + n + dim + k)
            scores = torch.rand(n, generator=gen, device=device)
            feats = torch.randn(n, dim, generator=gen, device=device).to(dtype)
            want = id_select_reference(scores, feats, k, GAMMA).tolist()
            got = select([scores], [feats], [k], GAMMA)[0].tolist()
            t = measure({"torch_loop": lambda: id_select_reference(scores, feats, k, GAMMA),
                         "kernel": lambda: select([scores], [feats], [k], GAMMA)}, repeats, sync)
            rows.append({"n": n, "dim": dim, "k": k, "dtype": dtype_name,
                         "exact": got == want, "first_mismatch": first_mismatch(got, want),
                         "torch_loop_ms": summarize(t["torch_loop"]), "kernel_ms": summarize(t["kernel"]),
                         "speedup": ratio(t["torch_loop"], t["kernel"]),
                         "physical": physical_limit(n, dim, k, torch.finfo(dtype).bits // 8, spec)})
    return rows


# -- 2. batch -----------------------------------------------------------------------------
def batch_rows(device: str, shapes, repeats: int, select: Callable, sync: Callable) -> list[dict]:
    import torch

    from kernels.id_selection.batched import id_select_batched_torch
    from kernels.id_selection.reference import id_select_reference

    rows = []
    for shape in shapes:
        gen = torch.Generator(device=device).manual_seed(SEED + len(shape["ns"]))
        scores = [torch.rand(n, generator=gen, device=device) for n in shape["ns"]]
        feats = [torch.randn(n, shape["dim"], generator=gen, device=device).bfloat16() for n in shape["ns"]]
        ks = [shape["k"]] * len(scores)
        want = [id_select_reference(s, f, k, GAMMA).tolist() for s, f, k in zip(scores, feats, ks)]
        got = [p.tolist() for p in select(scores, feats, ks, GAMMA)]
        t = measure({
            "kernel_batched": lambda: select(scores, feats, ks, GAMMA),
            "kernel_singles": lambda: [select([s], [f], [k], GAMMA) for s, f, k in zip(scores, feats, ks)],
            "torch_batched": lambda: id_select_batched_torch(scores, feats, ks, GAMMA),
            "torch_loop_singles": lambda: [id_select_reference(s, f, k, GAMMA)
                                           for s, f, k in zip(scores, feats, ks)],
        }, repeats, sync)
        rows.append({"name": shape["name"], "requests": len(scores), "ns": shape["ns"], "dim": shape["dim"],
                     "k": shape["k"], "dtype": "bfloat16", "exact": got == want,
                     **{f"{arm}_ms": summarize(v) for arm, v in t.items()},
                     "batched_vs_singles": ratio(t["kernel_singles"], t["kernel_batched"]),
                     "batched_vs_torch_loops": ratio(t["torch_loop_singles"], t["kernel_batched"]),
                     "torch_batched_vs_torch_loops": ratio(t["torch_loop_singles"], t["torch_batched"])})
    return rows


# -- summary ------------------------------------------------------------------------------
def headline(kernel: list[dict], batch: list[dict], engine: dict | None) -> dict[str, Any]:
    """The top-level keys: smallest kernel speed-up per dtype, the engine ratios, exactness."""
    def speedup_min(dtype: str) -> float | None:
        vals = [r["speedup"]["ratio"] for r in kernel if r["dtype"] == dtype and r["speedup"]["ratio"]]
        return min(vals) if vals else None

    engine = engine or {}
    prefill = engine.get("prefill", {}).get("speedup", {})
    decode = engine.get("decode", {}).get(str(BATCH), {}).get("ratio", {})
    batched = min(batch, key=lambda r: r["batched_vs_singles"]["ratio"], default=None)
    return {
        "kernel_speedup_min": speedup_min("bfloat16"),
        "kernel_speedup_min_scope": "bf16 features (the engine's dtype on a GPU); fp32 in kernel_speedup_min_fp32",
        "kernel_speedup_min_fp32": speedup_min("float32"),
        "kernel_exact_all": all(r["exact"] for r in kernel + batch) if kernel or batch else None,
        "batched_vs_singles_min": batched["batched_vs_singles"]["ratio"] if batched else None,
        "batched_vs_singles_min_ci95": batched["batched_vs_singles"].get("ci95") if batched else None,
        "engine_prefill_speedup_64": prefill.get("ratio"),
        "engine_prefill_speedup_64_ci95": prefill.get("ci95"),
        "engine_decode_ratio_16": decode.get("ratio"),
        "engine_decode_ratio_16_ci95": decode.get("ci95"),
    }


def gpu_facts() -> dict[str, Any]:
    """Name, memory, compute capability and driver of device 0 (nvidia-smi for the driver)."""
    import torch

    props = torch.cuda.get_device_properties(0)
    facts = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
             "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda, "torch": torch.__version__}
    try:
        import triton
        facts["triton"] = triton.__version__
    except ImportError:
        facts["triton"] = None
    try:
        facts["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                         capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        facts["driver"] = None
    return facts


@dataclass
class Plan:
    """What one run measures (the defaults are the GPU run; tests shrink it for the CPU)."""

    device: str = "cuda"
    shapes: list = field(default_factory=lambda: list(KERNEL_SHAPES))
    dtypes: tuple = KERNEL_DTYPES
    batch_shapes: list = field(default_factory=lambda: list(BATCH_SHAPES))
    repeats: int = KERNEL_REPEATS
    engine: dict | None = None     # engine_section keyword arguments; None skips the section
    time_budget_s: float = TIME_BUDGET_S


def run(plan: Plan, *, select: Callable, sync: Callable, spec: GpuSpec | None, backend: str,
        prov: Provenance, notes: list[str]) -> dict[str, Any]:
    """Measure `plan`; the result dict as written to gpu.json."""
    started = time.time()
    kernel = kernel_rows(plan.device, plan.shapes, plan.dtypes, plan.repeats, select, sync, spec)
    _print_kernel(kernel)
    batch = batch_rows(plan.device, plan.batch_shapes, plan.repeats, select, sync)
    _print_batch(batch)
    engine = None
    if plan.engine is None:
        notes.append("engine section skipped (--skip-engine)")
    elif time.time() - started > plan.time_budget_s / 2:
        notes.append("engine section skipped: the kernel sections used half the time budget")
    elif missing := _missing_engine_packages():
        notes.append(f"engine section skipped: {', '.join(missing)} not installed here (bring the wheels)")
    else:
        from benchmarks.gpu_engine import engine_section
        try:
            engine = engine_section(**plan.engine, deadline=started + plan.time_budget_s)
        except Exception as exc:  # keep the kernel results; say what failed
            notes.append(f"engine section failed: {type(exc).__name__}: {exc}")
    result = {"headline": headline(kernel, batch, engine), "kernel_backend": backend, "gamma": GAMMA,
              "spec": asdict(spec) if spec else None, "kernel": kernel, "batch": batch, "engine": engine,
              "notes": notes, "provenance": prov.finish(repeats=plan.repeats)}
    result.update(result["headline"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip-engine", action="store_true", help="kernel sections only")
    parser.add_argument("--time-budget", type=float, default=TIME_BUDGET_S,
                        help="seconds; sections that would start past it are skipped (and say so)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu benchmark: torch is not installed; nothing measured")
        return 0
    if not torch.cuda.is_available():
        print("gpu benchmark: no CUDA device here; nothing measured (run it on a GPU machine)")
        return 0
    from kernels.id_selection import batch_backend, id_select_batch

    # A GPU machine may get the tree without its .git: VIGIL_COMMIT names the commit copied (Provenance reads it).
    prov = Provenance(seeds={"data": SEED}, gpu=gpu_facts())
    notes: list[str] = []
    backend = batch_backend("cuda", max(n for n, _, _ in KERNEL_SHAPES))
    if backend != "triton":
        notes.append(f"Triton unavailable: the kernel arms ran the {backend} path")
    engine = None
    if not args.skip_engine:
        from benchmarks.gpu_engine import QWEN2_5_VL_7B
        engine = dict(geometry=QWEN2_5_VL_7B, device="cuda", dtype=torch.bfloat16, repeats=ENGINE_REPEATS,
                      prefill_batch=PREFILL_BATCH, prefill_side=PREFILL_SIDE, budget=PRUNE_BUDGET,
                      decode_batches=DECODE_BATCHES, decode_side=DECODE_SIDE, new_tokens=NEW_TOKENS, seed=SEED)
    result = run(Plan(engine=engine, time_budget_s=args.time_budget), select=id_select_batch, sync=torch.cuda.synchronize,
                 spec=gpu_spec(torch.cuda.get_device_name(0)), backend=backend, prov=prov, notes=notes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["headline"], indent=2), *result["notes"], f"wrote {args.out}", sep="\n")
    return 0


def _missing_engine_packages() -> list[str]:
    """Packages the engine imports that a bare GPU image may lack (xgrammar is not one: unused here)."""
    import importlib.util

    return [name for name in ENGINE_PACKAGES if importlib.util.find_spec(name) is None]


def _print_kernel(rows: list[dict]) -> None:
    print(f"{'N':>5} {'D':>5} {'k':>4} {'dtype':>9} {'torch ms':>9} {'kernel ms':>9} {'x':>7} {'limit us':>9} exact")
    for r in rows:
        lim = r["physical"].get("limit_us")
        print(f"{r['n']:>5} {r['dim']:>5} {r['k']:>4} {r['dtype']:>9} {r['torch_loop_ms']['median']:>9.3f} "
              f"{r['kernel_ms']['median']:>9.3f} {r['speedup']['ratio']:>7.1f} "
              f"{lim if lim is None else round(lim, 1)!s:>9} {r['exact']}", flush=True)


def _print_batch(rows: list[dict]) -> None:
    for r in rows:
        print(f"{r['name']}: batched {r['kernel_batched_ms']['median']:.3f} ms, 16 singles "
              f"{r['kernel_singles_ms']['median']:.3f} ms, torch batched {r['torch_batched_ms']['median']:.3f} ms, "
              f"16 torch loops {r['torch_loop_singles_ms']['median']:.1f} ms, exact {r['exact']}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
