"""select_batch: every image of a prefill batch at once, the same answers as image by image."""
import numpy as np
import pytest
import torch

from cloud.prune import PruneContext, PrunerConfig, build_pruner

METHODS = ["random", "fastv", "divprune", "id_selection"]


def _ctxs(seed=0, d=16, **kw):
    g = torch.Generator().manual_seed(seed)
    return [PruneContext(visual_embeds=torch.randn(n, d, generator=g), text_attention=torch.rand(n, generator=g),
                         **kw) for n in (40, 12, 64, 8)]


@pytest.mark.parametrize("method", METHODS)
def test_select_batch_equals_select_one_by_one(method):
    cfg = PrunerConfig(method=method, budget=10)   # 10 >= 8: the last image keeps everything
    batched = build_pruner(cfg).select_batch(_ctxs())
    one_by_one = build_pruner(cfg)
    singles = [one_by_one.select(c) for c in _ctxs()]
    assert [b.tolist() for b in batched] == [s.tolist() for s in singles]
    assert [len(b) for b in batched] == [10, 10, 10, 8]


def test_id_selection_batches_the_fresh_selections_in_one_call(monkeypatch):
    import cloud.prune.id_selection as module

    calls = []
    real = module.id_select_batch

    def spy(scores, feats, ks, gamma):
        calls.append(list(ks))
        return real(scores, feats, ks, gamma)

    monkeypatch.setattr(module, "id_select_batch", spy)
    build_pruner(PrunerConfig(method="id_selection", budget=10, gamma=20.0)).select_batch(_ctxs())
    assert calls == [[10, 10, 10]]   # the 8-token image needs no selection
    calls.clear()
    at_zero = build_pruner(PrunerConfig(method="id_selection", budget=10, gamma=0.0)).select_batch(_ctxs())
    assert calls == []               # gamma 0: the plain top-k, no selection loop
    assert [len(b) for b in at_zero] == [10, 10, 10, 8]


def test_reused_images_skip_the_batch_and_fresh_ones_are_stored():
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=6, reuse_across_frames=True))
    first = pruner.select_batch(_ctxs(stream_id="cam"))
    # Same camera, same frame content: every image is served from the reuse cache.
    again = pruner.select_batch(_ctxs(stream_id="cam"))
    assert pruner.last_reused
    assert [a.tolist() for a in again] == [f.tolist() for f in first]


def test_runner_prunes_a_whole_prefill_batch_with_one_select_batch_call():
    from cloud.answer.constrained import grammar_for
    from cloud.engine.runner import ModelRunner, PrefillItem
    from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter

    adapter = Qwen2_5_VLAdapter.tiny(seed=3)
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=4, importance="text",
                                        importance_layer=1))
    batches = []
    real = pruner.select_batch

    def spy(ctxs):
        batches.append(len(ctxs))
        return real(ctxs)

    pruner.select_batch = spy
    runner = ModelRunner(adapter, grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids),
                         pruner=pruner)
    rng = np.random.default_rng(0)
    items = [PrefillItem(f"r{i}", adapter.prepare([rng.integers(0, 255, (84, 112, 3), dtype=np.uint8)
                                                   for _ in range(i + 1)], "x", "s"), 8)
             for i in range(2)]
    outputs, failed = runner.prefill(items)
    assert not failed and len(outputs) == 2
    assert batches == [3]   # 1 + 2 images, one call
    assert [r.visual_tokens for r in runner.rows] == [4, 8]
