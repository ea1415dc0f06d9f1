import numpy as np
import pytest
import torch

from cloud.engine import greedy
from cloud.models.llava import LlavaAdapter
from cloud.models.tiny import tiny_llava
from cloud.prune import PrunerConfig, build_pruner


@pytest.fixture(scope="module")
def adapter():
    return LlavaAdapter(*tiny_llava(seed=0))


def _images(n=1, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (40, 70, 3), dtype=np.uint8) for _ in range(n)]


def test_unpruned_greedy_matches_transformers_generate(adapter):
    prepared = adapter.prepare(_images(), "what is here?", "")
    ours, pre = greedy.generate(adapter, prepared, max_new_tokens=12)
    ids = prepared.input_ids[None]
    ref = adapter.model.generate(input_ids=ids, pixel_values=prepared.model_inputs["pixel_values"], max_new_tokens=12,
                                 do_sample=False, eos_token_id=adapter.tokenizer.eos_token_id)
    assert ours == ref[0, ids.shape[1]:].tolist()[: len(ours)]
    assert pre.n_kept == pre.n_visual == 16


@pytest.mark.parametrize("method", ["random", "fastv", "divprune", "id_selection"])
def test_full_budget_equals_no_pruning_token_for_token(adapter, method):
    prepared = adapter.prepare(_images(seed=1), "describe", "")
    base, _ = greedy.generate(adapter, prepared, max_new_tokens=10)
    full, pre = greedy.generate(adapter, prepared, max_new_tokens=10,
                                 pruner=build_pruner(PrunerConfig(method=method, budget=1.0, importance="text")))
    assert full == base and pre.n_kept == 16


@pytest.mark.parametrize("importance", ["cls", "text"])
def test_pruned_prefill_is_shorter_and_keeps_original_positions(adapter, importance):
    prepared = adapter.prepare(_images(n=2, seed=2), "describe", "")
    full = greedy.prefill(adapter, prepared)
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=4, importance=importance))
    pre = greedy.prefill(adapter, prepared, pruner=pruner)
    assert pre.n_visual == 32 and pre.n_kept == 8
    assert pre.seq_len == full.seq_len - 24
    assert pre.next_position == full.next_position == full.seq_len  # decoding continues after the unpruned prompt
    assert pre.cache.get_seq_length() == pre.seq_len  # the KV cache really is smaller
    out, _ = greedy.generate(adapter, prepared, max_new_tokens=5, pruner=pruner)
    assert len(out) >= 1


def test_cls_attention_is_a_distribution_over_patches(adapter):
    visual, cls_att = adapter.encode_images(adapter.pixel_values(_images(n=2)))
    assert visual.shape == (2, 16, 64) and cls_att.shape == (2, 16)
    assert torch.all(cls_att >= 0) and torch.all(cls_att.sum(-1) <= 1.0 + 1e-5)


def test_cls_importance_never_runs_the_shallow_pass(adapter, monkeypatch):
    import cloud.prune.attention as attention

    def boom(*a, **k):
        raise AssertionError("shallow pass ran")

    monkeypatch.setattr(attention, "early_text_attention", boom)
    pre = greedy.prefill(adapter, adapter.prepare(_images(), "x", ""),
                         pruner=build_pruner(PrunerConfig(method="id_selection", budget=4, importance="cls")))
    assert pre.n_kept == 4
