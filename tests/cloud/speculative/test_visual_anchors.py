"""LVSpec's visual relevance: the probe's attention share on the image equals the model's own attention
weights (eager, one plain forward), and in a loose run a token chosen while looking at the image is an
anchor (threshold 0: every one is; strict equivalence follows)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from cloud.models.llava import LlavaAdapter
from cloud.speculative.config import SpeculativeConfig
from cloud.speculative.visual import VisualAttentionProbe, image_columns, layer_index

MAX_NEW = 40


@pytest.fixture(scope="module")
def adapter():
    a = LlavaAdapter.tiny(seed=3)
    a.language_model.config._attn_implementation = "eager"   # the reference reads attention weights
    return a


def _prepared(adapter, i):
    img = np.random.default_rng(i).integers(0, 255, (56, 56, 3), dtype=np.uint8)
    return adapter.prepare([img], f"what is in picture {i}?", "You describe camera events.")


def test_layer_index_counts_or_fractions():
    assert layer_index(0.5, 30) == 14 and layer_index(2, 30) == 2 and layer_index(1.0, 3) == 2
    with pytest.raises(ValueError):
        layer_index(5, 3)


def test_the_probe_share_equals_the_models_attention_on_the_image(adapter):
    probe = VisualAttentionProbe.for_adapter(adapter, 1)
    pre = adapter.embed(_prepared(adapter, 0))
    block = torch.tensor([[5, 17, 29, 41]])
    n = block.shape[1]
    # probe: prefill into a cache, then the block under capture (the verify pass)
    cache = adapter.new_cache()
    adapter.forward(pre.inputs_embeds, pre.position_ids, torch.ones(1, pre.length, dtype=torch.long), cache)
    positions = (torch.arange(n) + int(pre.position_ids.max()) + 1).view(1, 1, n)
    mask = torch.ones(1, pre.length + n, dtype=torch.long)
    with probe.capture():
        adapter.forward(adapter.embed_tokens(block), positions, mask, cache, last=n)
    visual = torch.nonzero(pre.visual_token_mask[0]).squeeze(1)
    cols = image_columns(mask, [visual])
    share = probe.share(cache.layers[1].keys, mask, cols)
    # reference: one forward over prompt + block, the layer's attention weights
    embeds = torch.cat([pre.inputs_embeds, adapter.embed_tokens(block)], dim=1)
    out = adapter.language_model(inputs_embeds=embeds, position_ids=torch.cat([pre.position_ids[0], positions[0]], 1),
                                 attention_mask=mask, output_attentions=True)
    weights = out.attentions[1][0, :, -n:]                                  # [H, n, S]
    expected = weights[..., cols[0]].sum(-1).mean(0)
    torch.testing.assert_close(share[0], expected, atol=1e-5, rtol=1e-4)
    assert float(share.min()) > 0.0 and float(share.max()) < 1.0


def test_image_columns_skip_left_padding_and_follow_the_prompt():
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1, 1, 1]])
    cols = image_columns(mask, [torch.tensor([1, 2]), None])
    assert cols[0].tolist() == [False, False, False, True, True, False, False, False]
    assert not cols[1].any()


def test_a_loose_run_with_visual_anchors_at_threshold_zero_is_the_strict_answer(adapter):
    """Threshold 0: every position is a visual anchor, so nothing is accepted loosely and the answer is
    greedy's; the probe really ran (anchors counted)."""
    from cloud.answer.constrained import grammar_for
    from cloud.engine.runner import ModelRunner, PrefillItem
    from cloud.speculative import build_speculator

    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    prompts = [_prepared(adapter, i) for i in range(3)]

    def run(spec):
        runner = ModelRunner(adapter, grammar, prefix_cache=False,
                             speculator=build_speculator(spec, adapter) if spec else None)
        runner.prefill([PrefillItem(f"r{i}", p, MAX_NEW) for i, p in enumerate(prompts)])
        out = {}
        while runner.rows:
            runner.decode()
            out.update({s.seq_id: list(s.tokens) for s in runner.release([r.seq_id for r in runner.rows if r.done])})
        return out, runner.speculator

    greedy, _ = run(None)
    spec = SpeculativeConfig(mode="loose", drafter="prompt_lookup", top_k=50, prob_ratio=0.0, anchor_terms=(),
                             anchor_fields=(), visual_anchor_share=1e-9, visual_anchor_layer=1)
    loose, speculator = run(spec)
    assert speculator.visual is not None and speculator.stats.loose_accepted == 0
    assert loose == greedy
    assert speculator.stats.visual_anchors > 0 and speculator.visual.checked
