"""The speculative benchmark's plumbing: every arm decodes from the same prefilled batch."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from benchmarks.spec import decode_arm, new_speculator, prefill_batch, spec_config
from cloud.answer.constrained import grammar_for
from cloud.engine.runner import PrefillItem
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter
from tests.helpers.spec_runs import prepared


def test_arms_decode_from_one_prefill_and_strict_arms_equal_autoregressive():
    torch.set_num_threads(1)
    adapter = Qwen2_5_VLAdapter.tiny(seed=2)
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    items = [PrefillItem(f"r{i}", prepared(adapter, i), 40) for i in range(3)]
    pre = prefill_batch(adapter, grammar, items, close_reserve=0)
    first, _ = decode_arm(adapter, grammar, pre, None, 0)
    again, _ = decode_arm(adapter, grammar, pre, None, 0)       # the snapshot is not consumed
    assert first == again and set(first) == {"r0", "r1", "r2"}
    for arm in ("jump_forward", "strict:history", "strict:prompt_lookup"):
        speculator = new_speculator(adapter, spec_config(arm))
        for _ in range(2):                                        # the speculator outlives a batch
            out, _ = decode_arm(adapter, grammar, pre, speculator, 0)
            assert out == first, arm
    assert spec_config("loose:history").mode == "loose"


def test_caption_workload_decodes_free_text_under_its_one_field_schema():
    """The free-text workload: text-only prompts, the one-field schema; strict equals greedy and
    every loose answer still parses."""
    import json

    from benchmarks.scenes import captions
    from benchmarks.spec import answer_text
    from cloud.answer.constrained import JsonGrammar
    from cloud.models.llava import LlavaAdapter

    torch.set_num_threads(1)
    adapter = LlavaAdapter.tiny(seed=2)          # a LLaVA prompt may hold no image
    grammar = JsonGrammar.compile(adapter.tokenizer, adapter.vocab_size, schema=captions.SCHEMA,
                                  stop_token_ids=adapter.stop_token_ids)
    truth = {"summary": "near left", "objects": [{"label": "red car", "count": 2}], "action": "still"}
    items = [PrefillItem(f"c{i}", adapter.prepare([], captions.question(truth), captions.SYSTEM), 24)
             for i in range(2)]
    pre = prefill_batch(adapter, grammar, items, close_reserve=0)
    greedy, _ = decode_arm(adapter, grammar, pre, None, 0)
    strict, _ = decode_arm(adapter, grammar, pre, new_speculator(adapter, spec_config("strict:prompt_lookup")), 0)
    assert strict == greedy
    loose, _ = decode_arm(adapter, grammar, pre, new_speculator(adapter, spec_config("loose:prompt_lookup")), 0)
    for tokens in loose.values():
        text, ok = answer_text(adapter, tokens, "caption")
        raw = adapter.tokenizer.decode(tokens, skip_special_tokens=True)
        if ok:
            assert json.loads(raw)["summary"] == text
