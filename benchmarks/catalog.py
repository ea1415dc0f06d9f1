"""What each benchmark result measures: its headline keys, goals, and the code it measured.

One place for the report (benchmarks/report.py) and the staleness check (benchmarks/staleness.py):
  - `measures`: repository paths whose later commits make a result stale (the benchmark's own
    script, the harness it runs, and the product code under test);
  - `headlines`: the keys shown as results, in reading order. Inputs of a run (camera counts
    tried, goals, budgets) are never headlines; where a result is "X at input N", a derived
    headline names N in its label;
  - `goals`: goals a result JSON predates (a JSON's own `goals`, `floors`, `<key>.goal` win);
  - `at_most`: goals that are ceilings (lower is better);
  - `derived`: headlines computed from a JSON's own numbers (e.g. a slowdown from two medians).
A result file maps to its entry by file stem, else by its `benchmark` field (spec_caption.json
is a `spec`); an unknown file gets no entry and the report's generic rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from benchmarks.provenance import ratio

# The product code several benchmarks run through. A moved file keeps its old path here too:
# its history (up to the move) lives there, and the move itself is a change to what was measured.
# From cloud/answer only what a request's answer goes through: the describe queue, pump and batch limit
# schedule the service's jobs and are measured by the soak and describe_cost, not by the engine benchmarks.
ENGINE = ("cloud/engine", "cloud/answer/__init__.py", "cloud/answer/constrained.py", "cloud/answer/prompting.py",
          "cloud/answer/request.py", "cloud/answer/schema.py", "cloud/answer/tidy.py", "cloud/seams.py",
          "cloud/constrained.py", "cloud/prompting.py", "cloud/schema.py", "cloud/tidy.py")
# The process harnesses the system benchmarks start (moved from benchmarks/ to testkit/).
HARNESS = ("testkit/fault_procs.py", "benchmarks/fault_procs.py")
BENCH_VLM = ("cloud/models/base.py", "cloud/models/bench", "cloud/models/bench_vlm.py",
             "cloud/models/bench_vlm_prompt.py", "cloud/models/registry.py")
SCENES = ("benchmarks/scenes/__init__.py", "benchmarks/scenes/generator.py", "benchmarks/scenes/render.py",
          "benchmarks/scenes/scoring.py", "benchmarks/scenes/evaluate.py", "benchmarks/scenes/train.py",
          "benchmarks/scenes/events.py", "benchmarks/scenes/recipes.py", "benchmarks/scenes/targets_v2.py")
INGEST = ("cloud/service.py", "cloud/ingest", "cloud/server.py", "cloud/admission.py", "cloud/dedup.py",
          "cloud/packet_limits.py", "protos")
EDGE_LINK = ("edge/transmit", "edge/client.py", "edge/link_config.py")

Derived = Callable[[dict], "dict | None"]   # -> {"value", "ci95"?} or None when the JSON lacks the numbers


@dataclass(frozen=True)
class Spec:
    measures: tuple[str, ...]
    headlines: tuple[str, ...] = ()
    goals: dict[str, Any] = field(default_factory=dict)
    at_most: frozenset[str] = frozenset()
    derived: dict[str, Derived] = field(default_factory=dict)


def _step_slowdown(arm: str) -> Derived:
    """kv_gpu: ms per decode step of `arm` over dense SDPA's. A compressed cache reads fewer bytes,
    so its step should not be slower than dense: at most 1 (above 1 is a slowdown)."""
    def f(data: dict) -> dict | None:
        ms = data.get("ms_per_decode_step_all_layers") or {}
        if not (isinstance(ms.get(arm), dict) and isinstance(ms.get("dense_sdpa"), dict)):
            return None
        r = ratio(ms[arm]["values"], ms["dense_sdpa"]["values"])
        return {"value": r["ratio"], "ci95": r["ci95"], "goal": 1.0, "at_most": True,
                "label": f"{arm} decode step time / dense SDPA's"}
    return f


def _load_p99_at_capacity(data: dict) -> dict | None:
    """load: p99 detected latency at the largest camera count that met the goal (an input of the sweep)."""
    rows = [r for r in data.get("sweep") or [] if r.get("cameras") == data.get("cameras")]
    if not rows or not isinstance(rows[0].get("p99_detected_latency_s"), dict):
        return None
    p = rows[0]["p99_detected_latency_s"]
    return {"value": p["median"], "ci95": p.get("ci95"), "goal": data.get("latency_goal_s"),
            "label": f"p99_detected_latency_s at {data['cameras']} cameras (the most tried)"}


def _kv_multi_frame(baseline: str) -> Derived:
    """kv: HybridKV minus `baseline` in per-event field accuracy against the truth on multi-frame events,
    paired over the same events (bootstrap interval; a win only when it lies above 0)."""
    def f(data: dict) -> dict | None:
        p = (((data.get("multi_frame") or {}).get("paired_truth") or {}).get(baseline)) or {}
        if "diff" not in p:
            return None
        return {"value": p["diff"], "ci95": p.get("ci95"), "goal": None,
                "label": f"multi-frame events: HybridKV minus {baseline}, field accuracy, paired ({p.get('verdict')})"}
    return f


def _vlm_count(data: dict) -> dict | None:
    full = (data.get("per_field") or {}).get("full") or {}
    return {"value": full["count"]} if "count" in full else None


def _vlm_shuffled(data: dict) -> dict | None:
    """The shuffled-image control must stay within chance + 0.10 (it must not see the answer elsewhere)."""
    if not isinstance(data.get("field_accuracy_shuffled"), (int, float)) or "chance" not in data:
        return None
    return {"value": data["field_accuracy_shuffled"], "goal": round(data["chance"] + 0.10, 4), "at_most": True}


def _soak_run(data: dict) -> dict | None:
    """soak: the main run of the default (first) arm, one camera."""
    runs = [r for r in data.get("runs") or [] if isinstance(r, dict) and r.get("cameras_n") == 1]
    return runs[0] if runs else None


def _soak_camera(data: dict) -> dict | None:
    run = _soak_run(data)
    cams = (run or {}).get("cameras") or {}
    return next(iter(cams.values()), None) if cams else None


def _soak_in_time(data: dict) -> dict | None:
    run = _soak_run(data)
    if run is None or run.get("all_cameras_in_time") is None:
        return None
    return {"value": run["all_cameras_in_time"], "goal": 0.95,
            "label": f"described_in_time, one camera, {run.get('model')}, {run.get('run_s', 0) / 60:.0f} min"}


def _soak_p95(data: dict) -> dict | None:
    cam = _soak_camera(data)
    p = (cam or {}).get("time_to_description_s") or {}
    return {"value": p["p95"], "label": "p95 s from event onset to description at the receiver"} if "p95" in p else None


def _soak_identity(key: str, goal: float, at_most: bool) -> Derived:
    def f(data: dict) -> dict | None:
        ids = (_soak_camera(data) or {}).get("identities") or {}
        return {"value": ids[key], "goal": goal, "at_most": at_most} if key in ids else None
    return f


def _soak_lost(data: dict) -> dict | None:
    lost = (data.get("goals") or {}).get("lost") or {}
    return {"value": lost["value"], "goal": 0, "at_most": True} if "value" in lost else None


def _soak_rss(side: str) -> Derived:
    def f(data: dict) -> dict | None:
        run = _soak_run(data) or {}
        slope = (((data.get("goals") or {}).get("rss_flat") or {}).get(run.get("model")) or {}).get(side) or {}
        return ({"value": slope["slope_mb_per_h"], "label": f"{side} RSS slope, MB/h after warm-up"}
                if "slope_mb_per_h" in slope else None)
    return f


def _soak_capacity(data: dict) -> dict | None:
    cap = data.get("capacity_search") or {}
    return ({"value": cap["max_cameras_in_time"], "label": "most cameras with described_in_time >= 0.95"}
            if isinstance(cap.get("max_cameras_in_time"), (int, float)) else None)


def _compose(profile: str, key: str, label: str, goal: Any = None, at_most: bool = False) -> Derived:
    """compose: a summary number of one profile's rounds (median, with min..max as the interval)."""
    def f(data: dict) -> dict | None:
        v = ((data.get(profile) or {}).get("summary") or {}).get(key)
        if isinstance(v, bool):
            return {"value": v, "goal": True, "label": f"{profile}: {label}"}
        if not isinstance(v, dict) or "median" not in v:
            return None
        out = {"value": v["median"], "ci95": [v.get("min"), v.get("max")], "label": f"{profile}: {label} (min..max)"}
        return {**out, "goal": goal, "at_most": at_most} if goal is not None else out
    return f


def _rss_slope(config: str, arm: str) -> Derived:
    """edge_rss: the edge's RSS slope after warm-up for one configuration and arm (before/after the fix)."""
    def f(data: dict) -> dict | None:
        run = ((data.get("summary") or {}).get(config) or {}).get(arm) or {}
        return ({"value": run["slope_mb_per_h"], "label": f"edge RSS slope MB/h, {config}, {arm} the fix"}
                if "slope_mb_per_h" in run else None)
    return f


# What the whole system runs through, for the results of real processes end to end.
# Files under benchmarks/results that are inputs, not results: calibration profiles the KV press loads.
ARTIFACTS = ("kv_profile_*.json",)

SYSTEM = ("cloud", "edge", "vigil", "protos", "config", "testkit")


CATALOG: dict[str, Spec] = {
    "dat": Spec(
        measures=("benchmarks/dat.py", "benchmarks/netlink", "benchmarks/stats.py", *EDGE_LINK, *INGEST),
        headlines=("delay_reduction_severe", "site16_delay_reduction_severe", "evidence_within_1s_severe",
                   "site16_evidence_within_1s_severe", "evidence_min_width", "alerts_lost"),
        goals={"alerts_lost": 0}, at_most=frozenset({"alerts_lost"})),
    "edge_gate": Spec(
        measures=("benchmarks/edge_gate.py", "edge/gate", "edge/events", "edge/sources", "edge/detection.py"),
        headlines=("gate_recall", "event_recall", "gated_cost_ratio", "cameras_at_5fps"),
        at_most=frozenset({"gated_cost_ratio"})),
    "gpu": Spec(
        measures=("benchmarks/gpu.py", "benchmarks/gpu_engine.py", "kernels/id_selection", "cloud/prune",
                  *ENGINE),
        headlines=("kernel_speedup_min", "kernel_speedup_min_fp32", "batched_vs_singles_min",
                   "engine_prefill_speedup_64", "engine_decode_ratio_16")),
    "kv": Spec(
        measures=("benchmarks/kv.py", "benchmarks/kv_quality.py", "benchmarks/stats.py", "cloud/kvcache",
                  "kernels/hybridkv", "benchmarks/results/kv_profile_vigil-bench-vlm.json", *ENGINE, *BENCH_VLM,
                  *SCENES),
        headlines=("kv_memory_ratio", "decode_speedup", "field_retention", "beats_uniform", "beats_baselines",
                   "multi_frame_vs_uniform", "multi_frame_vs_snapkv", "multi_frame_vs_streaming_llm"),
        derived={f"multi_frame_vs_{b}": _kv_multi_frame(b) for b in ("uniform", "snapkv", "streaming_llm")}),
    "kv_gpu": Spec(
        measures=("benchmarks/kv_gpu.py", "kernels/hybridkv", "cloud/kvcache"),
        headlines=("triton_decode_step_vs_dense", "torch_decode_step_vs_dense", "triton_vs_reference_max_abs_err"),
        derived={"triton_decode_step_vs_dense": _step_slowdown("hybrid_triton"),
                 "torch_decode_step_vs_dense": _step_slowdown("hybrid_torch")}),
    "load": Spec(
        measures=("benchmarks/load.py", "testkit/load_receiver.py", "benchmarks/load_receiver.py", *HARNESS,
                  "cloud/alerts", "cloud/cli.py", "cloud/config.py", *INGEST, *EDGE_LINK, "edge/agent.py",
                  "edge/cli.py"),
        headlines=("alerts_lost", "p99_at_capacity", "overload_alerts_lost", "overload_p99_detected_latency_s"),
        goals={"alerts_lost": 0, "overload_alerts_lost": 0},
        at_most=frozenset({"alerts_lost", "overload_alerts_lost", "p99_at_capacity"}),
        derived={"p99_at_capacity": _load_p99_at_capacity}),
    "prune": Spec(
        measures=("benchmarks/prune.py", "benchmarks/stats.py", "cloud/prune", "kernels/id_selection", *ENGINE,
                  *BENCH_VLM, *SCENES),
        headlines=("id_selection_retention_16", "id_selection_retention_64", "fastv_retention_16",
                   "id_selection_beats_fastv", "id_selection_minus_fastv_16", "id_selection_minus_fastv_64",
                   "id_selection_beats_baselines", "prefill_e2e_speedup_id_selection_text_16"),
        # prune.json from before `goals` was written: its retention_goals and the beats goal
        goals={"id_selection_retention_16": 0.90, "id_selection_retention_64": 0.97,
               "id_selection_beats_fastv": True, "id_selection_beats_baselines": True}),
    "prune_gamma_val": Spec(
        measures=("benchmarks/prune.py", "cloud/prune", "kernels/id_selection", *ENGINE, *BENCH_VLM, *SCENES)),
    "scale": Spec(
        measures=("benchmarks/scale.py", "testkit/scale_procs.py", "benchmarks/scale_procs.py", *HARNESS,
                  "cloud/scale", "cloud/alerts", "cloud/cli.py", "cloud/config.py", *INGEST,
                  "vigil_tools/webhook_echo.py")),
    "serve": Spec(
        measures=("benchmarks/serve.py", "benchmarks/serve_poisson.py", "cloud/prune", "kernels/id_selection",
                  "cloud/models", "config/cloud.yaml", *ENGINE),
        headlines=("ttd_p95_ratio_one_by_one_over_engine_at_2x", "ttd_p95_ratio_one_by_one_over_engine_pruned_at_2x",
                   "ttd_p95_ratio_static_batch_over_engine_at_2x", "ttd_p95_s_engine_pruned_at_2x",
                   "throughput_ratio_engine_vs_one_by_one_at_2x", "throughput_ratio_engine_pruned_vs_one_by_one_at_2x",
                   "throughput_ratio_engine_vs_static_batch_at_2x",
                   "ttd_p50_ratio_one_by_one_over_engine_pruned_at_0.5x")),
    "spec": Spec(
        measures=("benchmarks/spec.py", "cloud/speculative", "cloud/models", *ENGINE, *SCENES,
                  "benchmarks/scenes/captions.py"),
        headlines=("strict_exact", "loose_speedup", "loose_over_strict_ci95_low", "fact_retention",
                   "accepted_length_gain", "loose_field_retention", "jump_forward_speedup", "loose_e2e_speedup")),
    "soak": Spec(
        measures=("benchmarks/soak.py", "benchmarks/soak_scoring.py", "benchmarks/scenes/continuous.py",
                  "benchmarks/labels", *SYSTEM),
        headlines=("described_in_time", "p95_time_to_description_s", "events_per_object", "object_recall",
                   "alerts_lost", "edge_rss_slope_mb_per_h", "cloud_rss_slope_mb_per_h", "max_cameras_in_time"),
        derived={"described_in_time": _soak_in_time, "p95_time_to_description_s": _soak_p95,
                 "events_per_object": _soak_identity("events_per_object", 1.2, True),
                 "object_recall": _soak_identity("object_recall", 0.95, False), "alerts_lost": _soak_lost,
                 "edge_rss_slope_mb_per_h": _soak_rss("edge"), "cloud_rss_slope_mb_per_h": _soak_rss("cloud"),
                 "max_cameras_in_time": _soak_capacity}),
    "describe_cost": Spec(
        measures=("benchmarks/describe_cost.py", "cloud/models", "cloud/prune", "cloud/speculative", "config/cloud.yaml",
                  *ENGINE),
        headlines=("speedup_demo_vs_before", "speedup_pruned_short_vs_before")),
    "lifecycle": Spec(
        measures=("benchmarks/lifecycle.py", "benchmarks/labels", "benchmarks/scenes/continuous.py", "edge/events",
                  "edge/gate", "edge/detection.py"),
        headlines=("held_out_events_per_object_hog", "held_out_object_recall_hog",
                   "held_out_events_per_object_simulated", "held_out_object_recall_simulated"),
        goals={"held_out_events_per_object_hog": 1.2, "held_out_events_per_object_simulated": 1.2,
               "held_out_object_recall_hog": 0.95, "held_out_object_recall_simulated": 0.95},
        at_most=frozenset({"held_out_events_per_object_hog", "held_out_events_per_object_simulated"})),
    "compose": Spec(
        measures=("benchmarks/compose_check.py", "docker", "compose.yaml", "pyproject.toml", *SYSTEM,
                  "vigil_tools"),
        headlines=("default_healthy", "default_first_alert_s", "default_lost", "scale_healthy", "scale_first_alert_s",
                   "scale_lost"),
        derived={"default_healthy": _compose("default", "services_healthy", "every service healthy"),
                 "default_first_alert_s": _compose("default", "time_to_first_alert_s", "s to the first alert"),
                 "default_lost": _compose("default", "lost", "alerts lost", 0, True),
                 "scale_healthy": _compose("scale", "services_healthy", "every service healthy"),
                 "scale_first_alert_s": _compose("scale", "time_to_first_alert_s", "s to the first alert"),
                 "scale_lost": _compose("scale", "lost", "alerts lost", 0, True)}),
    "edge_rss": Spec(
        measures=("benchmarks/edge_rss.py", "edge/transmit", "edge/events", "edge/agent.py", "edge/sources"),
        headlines=("after_default", "before_default", "after_evidence_cache_4"),
        derived={"after_default": _rss_slope("default", "after"), "before_default": _rss_slope("default", "before"),
                 "after_evidence_cache_4": _rss_slope("evidence_cache_4", "after")}),
    "vlm_eval": Spec(
        measures=("benchmarks/vlm_eval.py", *ENGINE, *BENCH_VLM, *SCENES),
        headlines=("field_accuracy", "count_accuracy", "shuffled_control"),
        derived={"count_accuracy": _vlm_count, "shuffled_control": _vlm_shuffled}),
    "vlm_eval_v2": Spec(
        measures=("benchmarks/vlm_eval.py", *ENGINE, *BENCH_VLM, *SCENES),
        headlines=("field_accuracy", "count_accuracy", "shuffled_control"),
        goals={"field_accuracy": 0.90},
        derived={"count_accuracy": _vlm_count, "shuffled_control": _vlm_shuffled}),
}

# Names of run inputs: never shown as results by the report's generic fallback.
INPUTS = frozenset({"cameras", "latency_goal_s", "scenes", "budgets", "repeats", "threads", "batch", "max_new_tokens",
                    "model_latency_s", "visual_tokens", "headline_budget", "weights_bytes", "torch_threads",
                    "memory_bandwidth_bytes_s", "timing_passes", "capacity_duration_s", "capacity_warmup_s",
                    "labelled_frames", "target_frames", "scenes_rule"})


def benchmark_of(stem: str, data: dict) -> str:
    """The catalog entry of a result file: its stem if known, else its `benchmark` field, else the stem."""
    if stem in CATALOG:
        return stem
    name = data.get("benchmark")
    return name if isinstance(name, str) and name in CATALOG else stem
