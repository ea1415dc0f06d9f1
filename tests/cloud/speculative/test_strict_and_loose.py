"""Speculative decoding on tiny random models: strict == greedy, loose keeps anchors exact,
rollback leaves the cache as if the rejected tokens never ran, the grammar always holds."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from cloud.answer.constrained import parse_answer
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter
from cloud.prune import PrunerConfig, build_pruner
from cloud.speculative.config import SpeculativeConfig
from cloud.speculative.drafter import Drafter
from cloud.speculative.fields import JsonFieldTracker
from tests.helpers.spec_runs import prepared, run

DRAFTERS = ["prompt_lookup", "history", "layer_skip", "bandit", "none"]
MAX_NEW = 48


@pytest.fixture(scope="module")
def adapter():
    torch.set_num_threads(1)
    return Qwen2_5_VLAdapter.tiny(seed=2)


@pytest.fixture(scope="module")
def prompts(adapter):
    return [prepared(adapter, i) for i in range(6)]


@pytest.fixture(scope="module")
def greedy(adapter, prompts):
    return run(adapter, prompts, max_new_tokens=MAX_NEW)[0]


def _text(adapter, tokens):
    return adapter.tokenizer.decode(tokens, skip_special_tokens=True)


@pytest.mark.parametrize("drafter", DRAFTERS)
def test_strict_equals_greedy_batched_and_alone(adapter, prompts, greedy, drafter):
    spec = SpeculativeConfig(mode="strict", drafter=drafter)
    batched, sp = run(adapter, prompts, spec=spec, max_new_tokens=MAX_NEW)
    alone, _ = run(adapter, prompts, spec=spec, max_new_tokens=MAX_NEW, batch=False)
    assert batched == greedy
    assert alone == greedy
    stats = sp.stats.summary()
    assert stats["emitted"] == sum(len(t) for t in greedy.values()) - len(greedy)  # first tokens come from prefill
    assert stats["target_passes"] < stats["emitted"]


def test_strict_equals_greedy_with_continuous_admission_pruning_and_a_small_drafter(adapter, prompts):
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=0.5))
    base, _ = run(adapter, prompts, max_new_tokens=MAX_NEW, pruner=pruner, stagger=3)
    drafter_model = Qwen2_5_VLAdapter.tiny(seed=7)
    for spec, kw in [(SpeculativeConfig(mode="strict", drafter="layer_skip", draft_tokens=3), {}),
                     (SpeculativeConfig(mode="strict", drafter="small_model", draft_model="tiny:qwen2_5_vl"),
                      {"draft_adapter": drafter_model})]:
        out, _ = run(adapter, prompts, spec=spec, max_new_tokens=MAX_NEW, pruner=pruner, stagger=3, **kw)
        assert out == base


def test_a_small_drafter_that_is_the_target_itself_is_always_accepted(adapter, prompts, greedy):
    spec = SpeculativeConfig(mode="strict", drafter="small_model", draft_model="tiny:qwen2_5_vl",
                             jump_forward=False, adaptive=False, draft_tokens=4)
    out, sp = run(adapter, prompts[:3], spec=spec, max_new_tokens=MAX_NEW, draft_adapter=adapter)
    assert out == {k: greedy[k] for k in out}
    s = sp.stats.summary()
    assert s["drafted"] > 0 and s["drafter_acceptance_rate"] == 1.0


class GarbageDrafter(Drafter):
    """Proposes random ids (mostly grammar-illegal): nothing may break."""
    name = "garbage"

    def __init__(self, vocab):
        self.gen = torch.Generator().manual_seed(0)
        self.vocab = vocab

    def propose(self, rows, ctx):
        return [torch.randint(0, self.vocab, (r.k,), generator=self.gen).tolist() for r in rows]


@pytest.mark.parametrize("mode", ["strict", "loose"])
def test_grammar_always_holds_even_with_a_garbage_drafter(adapter, prompts, greedy, mode, monkeypatch):
    import cloud.speculative.registry as spec_pkg

    monkeypatch.setattr(spec_pkg, "build_drafter", lambda *a, **k: GarbageDrafter(adapter.vocab_size))
    out, _ = run(adapter, prompts, spec=SpeculativeConfig(mode=mode), max_new_tokens=MAX_NEW)
    for tokens in out.values():
        parse_answer(_text(adapter, tokens))
    if mode == "strict":
        assert out == greedy


@pytest.mark.parametrize("drafter", DRAFTERS)
def test_loose_answers_parse_and_never_accept_an_anchor_loosely(adapter, prompts, drafter, monkeypatch):
    import cloud.engine.runner as runner_mod   # the runner runs the speculative step

    spec = SpeculativeConfig(mode="loose", drafter=drafter, top_k=50, prob_ratio=0.0, anchor_terms=())
    loose_at: dict[str, list[int]] = {}
    step = runner_mod.speculative_step

    def spy(target, drafter_, verifier, kv, rows, *a, **k):
        results = step(target, drafter_, verifier, kv, rows, *a, **k)
        for row, res in zip(rows, results):
            loose_at.setdefault(row.seq_id, []).extend(res.loose_at)
        return results

    monkeypatch.setattr(runner_mod, "speculative_step", spy)
    out, sp = run(adapter, prompts, spec=spec, max_new_tokens=MAX_NEW)
    if drafter == "prompt_lookup":   # its n-gram copies rarely match a random model's choice
        assert sum(map(len, loose_at.values())) > 0, "the test needs loosely accepted tokens"
    for seq, tokens in out.items():
        parse_answer(_text(adapter, tokens))
        tracker = JsonFieldTracker()
        for i, tok in enumerate(tokens):
            keys = tracker.feed(adapter.tokenizer.decode([tok]))
            if i in loose_at.get(seq, []):
                assert not set(keys) & set(spec.anchor_fields), (seq, i, keys)
    assert sp.stats.loose_accepted == sum(map(len, loose_at.values()))


def test_rollback_leaves_the_cache_equal_to_a_run_without_rejected_tokens(adapter, prompts):
    from cloud.answer.constrained import grammar_for
    from cloud.engine.runner import ModelRunner, PrefillItem
    from cloud.speculative import build_speculator

    spec = SpeculativeConfig(mode="strict", drafter="small_model", draft_model="tiny:qwen2_5_vl",
                             draft_tokens=6, adaptive=False, jump_forward=False)
    drafter_model = Qwen2_5_VLAdapter.tiny(seed=7)
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    runner = ModelRunner(adapter, grammar, prefix_cache=False,
                         speculator=build_speculator(spec, adapter, draft_adapter=drafter_model))
    runner.prefill([PrefillItem(f"r{i}", p, MAX_NEW) for i, p in enumerate(prompts[:3])])
    stats = runner.speculator.stats
    for _ in range(12):
        runner.decode()
        if stats.drafted > stats.accepted + 3 or any(r.done for r in runner.rows):
            break
    assert stats.drafted > stats.accepted, "the test needs rejected drafts to roll back"
    for b, row in enumerate(runner.rows):
        in_kv = runner.speculator.rows[row.seq_id].in_kv
        real = runner.kv.mask[b].bool()
        # Reference: the prompt and the committed tokens, one plain forward, nothing rejected.
        pre = adapter.embed(row.prepared)
        ids = torch.tensor([row.tokens[:in_kv]])
        embeds = torch.cat([pre.inputs_embeds, adapter.embed_tokens(ids)], dim=1)
        pos = torch.arange(in_kv).view(1, 1, -1) + row.next_position
        positions = torch.cat([pre.position_ids, pos.expand(3, 1, -1)], dim=2)
        cache = adapter.new_cache()
        adapter.forward(embeds, positions, torch.ones(1, embeds.shape[1], dtype=torch.long), cache)
        assert int(real.sum()) == embeds.shape[1]
        for mine, ref in zip(runner.kv.cache.layers, cache.layers):
            torch.testing.assert_close(mine.keys[b][:, real], ref.keys[0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(mine.values[b][:, real], ref.values[0], atol=1e-4, rtol=1e-4)
