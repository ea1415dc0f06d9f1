"""benchmarks/gpu.py's CPU-side logic: specs, physical limits, sections on tiny shapes, the headline."""
import json
import time

import pytest
import torch

from benchmarks import gpu
from benchmarks.gpu_engine import TEST_GEOMETRY, engine_section
from kernels.id_selection.batched import id_select_batched_torch


def test_spec_lookup_prefers_the_specific_name():
    assert gpu.gpu_spec("NVIDIA H200").name == "H200"
    assert gpu.gpu_spec("NVIDIA H100 80GB HBM3").name == "H100"
    assert gpu.gpu_spec("NVIDIA H100 PCIe").name == "H100 PCIe"
    assert gpu.gpu_spec("Tesla T4") is None


def test_physical_limit_reads_features_once_and_computes_only_needed_rows():
    spec = gpu.GpuSpec("X", hbm_bytes_per_s=4e12, bf16_flops=1e15, fp32_flops=5e13)
    lim = gpu.physical_limit(4608, 4096, 256, 2, spec)
    assert lim["features_read_us"] == pytest.approx(4608 * 4096 * 2 / 4e12 * 1e6)      # ~9.4 us
    assert lim["needed_rows_gemm_us"] == pytest.approx(2 * 256 * 4608 * 4096 / 1e15 * 1e6)
    assert lim["pick_rows_us"] == pytest.approx(256 * 4608 * 4 / 4e12 * 1e6)
    assert lim["limit_us"] == pytest.approx(max(lim["features_read_us"], lim["needed_rows_gemm_us"])
                                            + lim["pick_rows_us"])
    assert lim["full_gram_us"] == pytest.approx(4608 * 4608 * 4096 / 1e15 * 1e6 + lim["pick_rows_us"])
    fp32 = gpu.physical_limit(4608, 4096, 256, 4, spec)
    assert fp32["needed_rows_gemm_us"] == pytest.approx(lim["needed_rows_gemm_us"] * 1e15 / 5e13)
    assert gpu.physical_limit(8, 8, 2, 2, None)["limit_us"] is None


def test_first_mismatch():
    assert gpu.first_mismatch([1, 2, 3], [1, 2, 3]) is None
    assert gpu.first_mismatch([1, 2, 3], [1, 5, 3]) == 1
    assert gpu.first_mismatch([1, 2], [1, 2, 3]) == 2


def test_kernel_and_batch_sections_on_cpu_shapes():
    sync = lambda: None  # noqa: E731
    rows = gpu.kernel_rows("cpu", [(40, 16, 8), (64, 24, 64)], ("float32", "bfloat16"), 3,
                           id_select_batched_torch, sync, gpu.gpu_spec("NVIDIA H200"))
    assert len(rows) == 4 and all(r["exact"] and r["first_mismatch"] is None for r in rows)
    assert all(r["kernel_ms"]["n"] == 3 and r["speedup"]["ratio"] > 0 for r in rows)
    assert rows[2]["physical"]["features_read_us"] == pytest.approx(rows[0]["physical"]["features_read_us"] / 2)
    shapes = [{"name": "mixed", "ns": [12, 30, 20], "dim": 16, "k": 6}]
    batch = gpu.batch_rows("cpu", shapes, 3, id_select_batched_torch, sync)
    assert batch[0]["exact"] and batch[0]["requests"] == 3
    assert {"kernel_batched_ms", "kernel_singles_ms", "torch_batched_ms", "torch_loop_singles_ms"} <= set(batch[0])
    head = gpu.headline(rows, batch, None)
    assert head["kernel_speedup_min"] == min(r["speedup"]["ratio"] for r in rows if r["dtype"] == "bfloat16")
    assert head["kernel_exact_all"] is True and head["engine_prefill_speedup_64"] is None


def test_headline_reads_the_engine_ratios():
    engine = {"prefill": {"speedup": {"ratio": 2.5}}, "decode": {str(gpu.BATCH): {"ratio": {"ratio": 9.0}}}}
    head = gpu.headline([], [], engine)
    assert head["engine_prefill_speedup_64"] == 2.5 and head["engine_decode_ratio_16"] == 9.0
    assert head["kernel_speedup_min"] is None and head["kernel_exact_all"] is None


def test_engine_section_runs_the_same_code_on_a_tiny_geometry():
    torch.set_num_threads(1)
    out = engine_section(TEST_GEOMETRY, "cpu", torch.float32, repeats=1, deadline=time.time() + 120,
                         prefill_batch=2, prefill_side=112, budget=4, decode_batches=(1, 2), decode_side=56,
                         new_tokens=3)
    assert out["prefill"]["visual_tokens_per_request"] == {"full": [16, 16], "id_selection": [4, 4]}
    assert out["prefill"]["speedup"]["ratio"] > 0
    assert out["decode"]["2"]["ratio"]["ratio"] > 0 and out["decode"]["1"]["engine_tok_s"]["n"] == 1
    assert out["decode"]["2"]["engine_decode_steps_tok_s"]["n"] == 1
    assert out["attention"] == "sdpa" and out["notes"] == []
    json.dumps(out)


def test_main_without_cuda_exits_zero_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu.json"
    assert gpu.main(["--out", str(out)]) == 0
    assert not out.exists() and "no CUDA" in capsys.readouterr().out


def test_a_whole_run_on_cpu_writes_every_headline_key(capsys):
    from benchmarks.provenance import Provenance

    torch.set_num_threads(1)
    plan = gpu.Plan(device="cpu", shapes=[(24, 16, 6)], dtypes=("bfloat16",),
                    batch_shapes=[{"name": "tiny", "ns": [10, 20], "dim": 16, "k": 4}], repeats=3,
                    engine=dict(geometry=TEST_GEOMETRY, device="cpu", dtype=torch.float32, repeats=1,
                                prefill_batch=1, prefill_side=112, budget=4, decode_batches=(gpu.BATCH,),
                                decode_side=56, new_tokens=2))
    result = gpu.run(plan, select=id_select_batched_torch, sync=lambda: None, spec=None, backend="torch_batched",
                     prov=Provenance(seeds={"data": 0}), notes=[])
    for key in ("kernel_speedup_min", "engine_prefill_speedup_64", "engine_decode_ratio_16"):
        assert result[key] is not None and result[key] > 0, key
    assert result["kernel_exact_all"] is True and result["notes"] == []
    assert result["provenance"]["seeds"] == {"data": 0}
    json.loads(json.dumps(result))
    assert "tiny: batched" in capsys.readouterr().out
