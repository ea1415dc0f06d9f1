"""The shared system-prompt KV is reused and changes no answer."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from cloud.answer.constrained import grammar_for
from cloud.engine.prefix import MIN_PREFIX_TOKENS, build_prefix
from cloud.engine.runner import ModelRunner, PrefillItem
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter


@pytest.fixture(scope="module")
def adapter():
    return Qwen2_5_VLAdapter.tiny(seed=5)


def _prepared(adapter, i, system="You describe camera events as JSON."):
    img = np.random.default_rng(i).integers(0, 255, (90 + 10 * i, 120, 3), dtype=np.uint8)
    return adapter.prepare([img], f"event {i}", system)


def _answers(adapter, prepared, prefix_cache):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
    runner = ModelRunner(adapter, grammar, prefix_cache=prefix_cache)
    done = {}
    # two waves so the second prefill finds the prefix built by the first
    for wave in (prepared[:1], prepared[1:]):
        outs, failed = runner.prefill([PrefillItem(f"r{id(p)}", p, 40) for p in wave])
        assert not failed
    while runner.rows:
        outs = runner.decode()
        for st in runner.release([o.seq_id for o in outs if o.finished]):
            done[st.seq_id] = (st.tokens, st.prompt_tokens)
    return done, runner


def test_prefix_cache_changes_no_answer_and_is_built_once(adapter):
    prepared = [_prepared(adapter, i) for i in range(4)]
    cached, runner = _answers(adapter, prepared, prefix_cache=True)
    plain, _ = _answers(adapter, prepared, prefix_cache=False)
    assert cached == plain
    assert runner.prefix is not None and runner.prefix.length >= MIN_PREFIX_TOKENS
    # the prefix is the text before the first image token (vision_start included)
    first = prepared[0].input_ids
    assert int(first[runner.prefix.length]) == adapter.image_token_id
    assert int(first[runner.prefix.length - 1]) == adapter.tokenizer.convert_tokens_to_ids("<|vision_start|>")


def test_prompt_with_another_system_prompt_prefills_in_full(adapter):
    prepared = [_prepared(adapter, 0), _prepared(adapter, 1, system="Another system prompt entirely.")]
    cached, runner = _answers(adapter, prepared, prefix_cache=True)
    plain, _ = _answers(adapter, prepared, prefix_cache=False)
    assert cached == plain
    pre = adapter.embed(prepared[1])
    assert not runner.prefix.matches(pre)


def test_prefix_kv_equals_the_full_prompt_kv(adapter):
    pre = adapter.embed(_prepared(adapter, 2))
    prefix = build_prefix(adapter, pre)
    cache = adapter.new_cache()
    adapter.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, cache)
    for (k, v), layer in zip(prefix.kv, cache.layers):
        torch.testing.assert_close(k, layer.keys[:, :, :prefix.length], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(v, layer.values[:, :, :prefix.length], atol=1e-5, rtol=1e-5)
