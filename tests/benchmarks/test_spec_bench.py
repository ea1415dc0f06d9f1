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


def test_narrative_workload_decodes_the_alert_with_its_narrative_on_the_product_path():
    """The narrative workload: the edge's request for a scene, the engine's prompt builder, the alert
    schema with the narrative; strict equals greedy and every loose answer still parses, its
    narrative what the scorer reads."""
    from benchmarks.scenes import captions, make_scenes
    from benchmarks.spec import answer_text
    from cloud.answer.constrained import parse_answer
    from cloud.answer.prompting import build_prompt
    from cloud.models.llava import LlavaAdapter

    torch.set_num_threads(1)
    adapter = LlavaAdapter.tiny(seed=2)
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids,
                          narrative=True)
    items = []
    for i, scene in enumerate(make_scenes("val", 2)):
        guided = build_prompt(captions.scene_request(scene, i))
        assert "Zone:" in guided.user and "Triggered rule:" in guided.user
        items.append(PrefillItem(f"c{i}", adapter.prepare(guided.images, guided.user, guided.system), 96))
    pre = prefill_batch(adapter, grammar, items, close_reserve=0)
    greedy, _ = decode_arm(adapter, grammar, pre, None, 0)
    strict, _ = decode_arm(adapter, grammar, pre, new_speculator(adapter, spec_config("strict:prompt_lookup")), 0)
    assert strict == greedy
    loose_spec = spec_config("loose:prompt_lookup", {"visual_anchor_share": 0.5, "visual_anchor_layer": 1})
    speculator = new_speculator(adapter, loose_spec)
    assert speculator.visual is not None
    loose, _ = decode_arm(adapter, grammar, pre, speculator, 0)
    for tokens in list(loose.values()) + list(greedy.values()):
        text, ok = answer_text(adapter, tokens, "narrative")
        assert ok
        assert parse_answer(adapter.tokenizer.decode(tokens, skip_special_tokens=True)).narrative.strip() == text.strip()


def test_paired_gain_is_a_geometric_mean_with_an_interval():
    from benchmarks.spec import paired_gain

    even = paired_gain([(1.0, 20)] * 4, [(1.0, 10)] * 4)
    assert abs(even["ratio"] - 2.0) < 1e-9 and even["excludes_1"] and even["ci95"][0] > 1.0
    mixed = paired_gain([(1.0, 20), (1.0, 5), (1.0, 20), (1.0, 5)], [(1.0, 10)] * 4)
    assert abs(mixed["ratio"] - 1.0) < 1e-9 and not mixed["excludes_1"]
