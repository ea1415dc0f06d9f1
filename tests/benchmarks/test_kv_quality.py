"""The KV benchmark's quality section and the bench VLM's profile calibration, on a tiny model."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import benchmarks.scenes as real_scenes  # noqa: E402
from benchmarks.kv import build_arms, summarize_quality, top_level  # noqa: E402
from benchmarks.kv_profile import candidate_thresholds, pick, scene_samples  # noqa: E402
from benchmarks.kv_quality import run_quality, score_arms  # noqa: E402
from cloud.answer.constrained import grammar_for  # noqa: E402
from cloud.kvcache.attention import AttentionCapture  # noqa: E402
from cloud.kvcache.head_profile import HeadProfile, model_fingerprint  # noqa: E402

TRUTH = {"summary": "far right", "threat_level": 0, "objects": [{"label": "green dog", "count": 2}],
         "action": "moving right"}


@pytest.fixture(scope="module")
def llava():
    from cloud.models.llava import LlavaAdapter

    torch.set_num_threads(1)
    return LlavaAdapter.tiny(seed=1)


def tiny_scenes(n_images: int = 3):
    """benchmarks.scenes' interface with small random images (the tiny model's answers are noise)."""
    rng = np.random.default_rng(0)
    made = [SimpleNamespace(image=rng.integers(0, 255, (56, 56, 3), dtype=np.uint8), truth=TRUTH)
            for _ in range(n_images)]
    return SimpleNamespace(make_scenes=lambda split, n, seed=0: made[:n], QUESTION="Describe it as JSON.",
                           SYSTEM="You answer in JSON.", fields_of=real_scenes.fields_of,
                           field_scores=real_scenes.field_scores, mean_scores=real_scenes.mean_scores,
                           FIELDS=real_scenes.FIELDS)


def even_profile(adapter) -> HeadProfile:
    lm = adapter.language_model
    layers, heads = len(lm.layers), lm.config.num_key_value_heads
    stab = [[0.2 + 0.6 * ((i + h) % 2) for h in range(heads)] for i in range(layers)]
    classes = [["static" if x >= 0.5 else "dynamic" for x in row] for row in stab]
    return HeadProfile(fingerprint=model_fingerprint(lm, adapter.model), classes=classes, stability=stab,
                       need=[[0.5] * heads for _ in range(layers)], threshold=0.5)


def test_quality_pass_full_budget_equals_full_cache_and_low_budget_holds_fewer_bytes(llava):
    scenes = tiny_scenes(3)
    grammar = grammar_for(llava.tokenizer, llava.vocab_size, stop_token_ids=llava.stop_token_ids)
    capture = AttentionCapture(window=32)
    arms = build_arms(llava, even_profile(llava), [0.25, 1.0], capture)
    run = run_quality(llava, grammar, arms, capture, scenes, 3, 0, batch_size=2, repeats=1, timing_tokens=3,
                      log=lambda *_: None)
    per = run["per_arm"]
    assert all(len(rec["texts"]) == 3 for rec in per.values())
    for method in ("hybridkv", "uniform", "snapkv", "streaming_llm"):
        assert per[f"{method}@1.0"]["texts"] == per["full"]["texts"], method     # 100% budget == full
        assert max(per[f"{method}@0.25"]["kv_bytes"]) < min(per["full"]["kv_bytes"])
        assert len(per[f"{method}@0.25"]["tok_s"]) == 2                         # 2 batches x 1 timing repeat
    q = summarize_quality(run, [0.25, 1.0], weights=10**6, bandwidth=1e9, scenes=scenes)
    top = top_level(None, q, "0.25")
    acc = q["by_budget"]["1.0"]["field_accuracy"]
    assert acc["hybridkv"] == acc["full"] and acc["uniform"] == acc["full"]
    assert q["arms"]["full"]["agreement_with_full"]["exact"] == 1.0
    assert top["field_retention"]["section"] == "quality" and isinstance(top["beats_uniform"]["value"], bool)
    # at the full budget every press answers as the full cache: a tie with uniform, never a win
    full = q["by_budget"]["1.0"]
    assert full["paired"]["uniform"]["verdict"] == "tie" and full["beats_uniform"] is False
    assert not full["beats_baselines"] and top["beats_uniform"]["ci95"] == q["by_budget"]["0.25"]["paired"]["uniform"]["ci95"]
    json.dumps(top)


def test_score_arms_against_truth_and_full_cache():
    good = json.dumps(TRUTH)
    wrong_count = json.dumps({**TRUTH, "objects": [{"label": "green dog", "count": 3}]})
    scenes = [SimpleNamespace(truth=TRUTH)] * 2
    per_arm = {"full": {"texts": [good, good]}, "press": {"texts": [wrong_count, "not json"]}}
    s = score_arms(real_scenes, scenes, per_arm)
    assert s["full"]["field_accuracy"]["field_accuracy"] == 1.0
    assert s["press"]["field_accuracy"]["count"] == 0.0 and s["press"]["field_accuracy"]["class"] == 0.5
    assert s["press"]["agreement_with_full"]["colour"] == 0.5 and s["press"]["json_valid"] == 0.5
    assert s["press"]["correct"] == [[1, 1, 0, 1, 1], [0, 0, 0, 0, 0]]   # per scene, FIELDS order: for pairing


def test_threshold_candidates_and_pick():
    stab = [[0.1, 0.2], [0.3, 0.4]]
    assert candidate_thresholds(stab, 0.75, (0.25, 0.5, 0.75)) == [0.75, 0.2, 0.3, 0.4]
    table = [{"threshold": 0.75, "field_accuracy": 0.9, "agreement_exact": 0.8},
             {"threshold": 0.2, "field_accuracy": 0.9, "agreement_exact": 0.8},
             {"threshold": 0.3, "field_accuracy": 0.9, "agreement_exact": 0.9}]
    assert pick(table)["threshold"] == 0.3
    assert pick(table[:2])["threshold"] == 0.75      # a full tie keeps the earlier (the default)


def test_profile_calibration_never_uses_test_scenes_and_keeps_provenance(tmp_path):
    with pytest.raises(ValueError):
        scene_samples(1, split="test")
    (images, prompt, system), = scene_samples(1)
    assert len(images) == 1 and images[0].shape == (336, 336, 3) and prompt == real_scenes.QUESTION
    p = HeadProfile(fingerprint={"a": 1}, classes=[["static"]], stability=[[0.9]], need=[[0.5]], threshold=0.5,
                    provenance={"commit": "abc"})
    loaded = HeadProfile.load(p.save(tmp_path / "p.json"))
    assert loaded.provenance == {"commit": "abc"} and loaded.with_threshold(0.95).provenance == {"commit": "abc"}
    assert loaded.with_threshold(0.95).classes == [["dynamic"]]


def test_physical_limit_reads_weights_once_per_batched_step():
    from benchmarks.kv import physical

    one = physical(10, 100, 1000.0)
    assert one == {"bytes_read_per_token": 110, "bandwidth_limit_tok_s": 1000.0 / 110}
    two = physical(10, 100, 1000.0, rows=2)
    assert two["bytes_read_per_token"] == 60 and two["bandwidth_limit_tok_s"] == 2000.0 / 120


def tiny_events(n_events: int = 3, frames: int = 2):
    """The recipe-v2 interface (several frames per request, eight fields) on the tiny model."""
    from benchmarks.scenes import recipe_task

    task = recipe_task(2)
    truth = {**TRUTH, "objects": TRUTH["objects"] + [{"label": "red car", "count": 1}]}
    rng = np.random.default_rng(1)
    made = [SimpleNamespace(frames=[rng.integers(0, 255, (56, 56, 3), dtype=np.uint8) for _ in range(frames)],
                            truth=truth) for _ in range(n_events)]
    return SimpleNamespace(make_scenes=lambda split, n, seed=0: made[:n], QUESTION="Describe it as JSON.",
                           SYSTEM="You answer in JSON.", frames=lambda e: list(e.frames), fields_of=task.fields_of,
                           field_scores=task.field_scores, mean_scores=task.mean_scores, FIELDS=task.FIELDS)


def test_multi_frame_requests_share_the_prefill_and_a_full_budget_ties(llava):
    from benchmarks.kv_quality import summarize_multi_frame

    events = tiny_events(3, frames=2)
    grammar = grammar_for(llava.tokenizer, llava.vocab_size, stop_token_ids=llava.stop_token_ids)
    capture = AttentionCapture(window=32)
    arms = build_arms(llava, even_profile(llava), [0.25, 1.0], capture)
    run = run_quality(llava, grammar, arms, capture, events, 3, 0, batch_size=2, repeats=0, timing_tokens=3,
                      timing_batches=0, log=lambda *_: None, max_new_tokens=64)
    one = llava.embed(llava.prepare([events.make_scenes("test", 1)[0].frames[0]], "Describe it as JSON.", "x"))
    assert run["prompt_tokens"] > one.length          # two images in one request
    per = run["per_arm"]
    for method in ("hybridkv", "uniform", "snapkv", "streaming_llm"):
        assert per[f"{method}@1.0"]["texts"] == per["full"]["texts"], method
        assert max(per[f"{method}@0.25"]["kv_bytes"]) < min(per["full"]["kv_bytes"])
        assert per[f"{method}@0.25"]["tok_s"] == []                           # no timing repeats
    scores = score_arms(events, run["scenes"], per)
    assert len(scores["full"]["correct"][0]) == 8 and scores["full"]["agree"][0] == [1] * 8
    mf = summarize_multi_frame(scores, events.FIELDS, "1.0", ["hybridkv", "uniform", "snapkv", "streaming_llm"],
                               ["uniform", "snapkv", "streaming_llm"])
    for name in ("uniform", "snapkv", "streaming_llm"):
        assert mf[f"beats_{name}"] is False and mf["paired_truth"][name]["verdict"] == "tie"
        assert mf["paired_agreement"][name]["diff"] == 0.0
        assert "action" not in mf["paired_truth_answerable"][name]["fields"]
        assert set(mf["paired_truth"][name]["per_field"]) == set(events.FIELDS)
    json.dumps(mf)


def test_multi_frame_beats_only_when_the_interval_excludes_zero():
    from benchmarks.kv_quality import summarize_multi_frame

    fields = ("a", "b")
    good, bad = [[1, 1]] * 40, [[1, 0]] * 20 + [[1, 1]] * 20
    def arm(rows):
        return {"field_accuracy": {"field_accuracy": 0.5}, "agreement_with_full": {}, "json_valid": 1.0,
                "correct": rows, "agree": rows}
    scores = {"full": arm(good), "hybridkv@0.1": arm(good), "uniform@0.1": arm(bad), "snapkv@0.1": arm(good)}
    mf = summarize_multi_frame(scores, fields, "0.1", ["hybridkv", "uniform", "snapkv"], ["uniform", "snapkv"])
    assert mf["beats_uniform"] is True and mf["paired_truth"]["uniform"]["ci95"][0] > 0
    assert mf["beats_snapkv"] is False                                     # a tie is not a win
    assert mf["paired_truth_answerable"]["uniform"]["fields"] == ["a", "b"]
