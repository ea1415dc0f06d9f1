"""Qwen2-VL / Qwen2.5-VL adapters on tiny random models built in code."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from cloud.answer.constrained import BatchConstraint, grammar_for, parse_answer
from cloud.engine.pruning import prune_one
from cloud.engine.runner import ModelRunner, PrefillItem
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter
from cloud.models.qwen2_vl import QwenVLAdapter
from cloud.prune import PrunerConfig, build_pruner

FAMILIES = {"qwen2_5_vl": Qwen2_5_VLAdapter, "qwen2_vl": QwenVLAdapter}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def adapter(request):
    return FAMILIES[request.param].tiny(seed=1)


def _img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _hf_last_logits(adapter, prepared, extra_ids=()):
    ids = torch.cat([prepared.input_ids, torch.tensor(list(extra_ids), dtype=torch.long)])[None]
    mm = (ids == adapter.image_token_id).int()
    out = adapter.model(input_ids=ids, mm_token_type_ids=mm, **prepared.model_inputs)
    return out.logits[:, -1]


def test_prefill_logits_match_the_hf_forward_with_several_frames(adapter):
    prepared = adapter.prepare([_img(120, 160), _img(90, 90, 1)], "what happens?", "sys")
    assert prepared.n_visual == int((prepared.input_ids == adapter.image_token_id).sum())
    pre = adapter.embed(prepared)
    assert pre.position_ids.shape == (3, 1, pre.length)
    ours = adapter.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, adapter.new_cache())
    torch.testing.assert_close(ours, _hf_last_logits(adapter, prepared), atol=1e-4, rtol=1e-4)


def test_mrope_positions_are_spatial_on_image_tokens(adapter):
    prepared = adapter.prepare([_img(112, 168)], "x", "s")
    pre = adapter.embed(prepared)
    pos = pre.position_ids[:, 0]
    vis = pre.visual_token_mask[0]
    rows, cols = adapter.token_grids(prepared)[0]
    assert rows * cols == int(vis.sum())
    t, h, w = pos[:, vis]
    assert len(set(t.tolist())) == 1                       # one temporal index per still image
    assert int(h.max() - h.min()) == rows - 1 and int(w.max() - w.min()) == cols - 1
    # text after the image continues from the largest position, 1-D
    text_after = pos[:, int(vis.nonzero().max()) + 1:]
    assert (text_after[0] == text_after[1]).all() and (text_after[1] == text_after[2]).all()


def test_pruned_prompt_keeps_order_and_original_positions(adapter):
    prepared = adapter.prepare([_img(140, 196)], "x", "s")
    pre = adapter.embed(prepared)
    vis_pos = pre.visual_token_mask[0].nonzero().squeeze(1)
    text_pos = (~pre.visual_token_mask[0]).nonzero().squeeze(1)
    keep = torch.cat([text_pos, vis_pos[torch.tensor([5, 0, 9])]])
    pruned = pre.select(keep)
    assert pruned.n_visual == 3 and pruned.length == len(text_pos) + 3
    kept_sorted = torch.sort(keep).values
    assert torch.equal(pruned.position_ids, pre.position_ids[..., kept_sorted])
    assert int(pruned.position_ids.max()) == int(pre.position_ids.max())  # next position unchanged


def _greedy_reference(adapter, prepared, grammar, max_new):
    """Plain path: HF forward over the whole sequence each step (no cache, no batching)."""
    constraint = BatchConstraint(grammar, close_reserve=0)
    matcher, out = grammar.matcher(), []
    while len(out) < max_new:
        logits = _hf_last_logits(adapter, prepared, out)
        tok = int(constraint.mask(logits, [matcher], [max_new - len(out)]).argmax())
        assert matcher.accept_token(tok)
        out.append(tok)
        if matcher.is_completed():
            break
    return out


def test_batched_decode_equals_one_at_a_time_reference(adapter):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
    prompts = [([_img(120, 160, 0)], "a"), ([_img(60, 200, 1)], "bb bb"),
               ([_img(100, 100, 2), _img(80, 120, 3)], "c")]
    prepared = [adapter.prepare(imgs, p, "sys") for imgs, p in prompts]
    max_new = 24
    runner = ModelRunner(adapter, grammar, close_reserve=0)
    # r0 prefills alone, decodes a few steps, then r1 + r2 join the running batch.
    outs, _ = runner.prefill([PrefillItem("r0", prepared[0], max_new)])
    for _ in range(3):
        outs = runner.decode()
    runner.prefill([PrefillItem("r1", prepared[1], max_new), PrefillItem("r2", prepared[2], max_new)])
    done = {}
    while runner.rows:
        outs = runner.decode()
        for st in runner.release([o.seq_id for o in outs if o.finished]):
            done[st.seq_id] = st.tokens
    for i, p in enumerate(prepared):
        assert done[f"r{i}"] == _greedy_reference(adapter, p, grammar, max_new), f"r{i}"


def test_full_budget_pruning_equals_no_pruning_and_small_budget_is_respected(adapter):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
    prepared = adapter.prepare([_img(140, 196, 4)], "what?", "sys")

    def run(pruner):
        runner = ModelRunner(adapter, grammar, pruner=pruner, close_reserve=20)
        outs, _ = runner.prefill([PrefillItem("x", prepared, 48, camera_id="cam")])
        while not outs[0].finished:
            outs = runner.decode()
        return runner.release(["x"])[0]

    base = run(None)
    full = run(build_pruner(PrunerConfig(method="id_selection", budget=1.0, importance="text")))
    assert full.tokens == base.tokens and full.visual_tokens == base.visual_tokens
    small = run(build_pruner(PrunerConfig(method="id_selection", budget=6, importance="text", importance_layer=1)))
    assert small.visual_tokens == 6 and small.visual_tokens_before_prune == base.visual_tokens
    assert small.prompt_tokens == base.prompt_tokens - (base.visual_tokens - 6)
    parse_answer(adapter.tokenizer.decode(small.tokens))


def _kept_visual_positions(adapter, prepared, pruner, boxes_by_frame=None):
    pre = adapter.embed(prepared)
    return pre, prune_one(adapter, pre, prepared, pruner, boxes_by_frame=boxes_by_frame or {})


def test_budget_applies_per_image(adapter):
    prepared = adapter.prepare([_img(112, 168, 5), _img(84, 84, 6)], "x", "s")
    pre, pruned = _kept_visual_positions(
        adapter, prepared, build_pruner(PrunerConfig(method="random", budget=3)))
    assert pruned.n_visual == 6
    # each image's tokens share one temporal M-RoPE index, distinct per image
    t_all = pre.position_ids[0, 0][pre.visual_token_mask[0]]
    t_kept = pruned.position_ids[0, 0][pruned.visual_token_mask[0]]
    per_image = {int(t): int((t_kept == t).sum()) for t in torch.unique(t_all)}
    assert sorted(per_image.values()) == [3, 3]


def test_edge_boxes_steer_selection_into_the_box(adapter):
    prepared = adapter.prepare([_img(112, 168, 7)], "x", "s")   # 4 x 6 token grid, 28 px cells
    cfg = dict(method="fastv", budget=4, importance="text", importance_layer=1)
    pre, pruned = _kept_visual_positions(
        adapter, prepared, build_pruner(PrunerConfig(**cfg, box_prior_weight=1e6)),
        boxes_by_frame={0: [[0, 0, 56, 56]]})                   # top-left 2 x 2 tokens
    vis = pre.visual_token_mask[0]
    origin = pre.position_ids[1:, 0][:, vis].min(dim=1).values
    kept_hw = pruned.position_ids[1:, 0][:, pruned.visual_token_mask[0]] - origin[:, None]
    assert kept_hw.shape[1] == 4 and int(kept_hw.max()) <= 1   # all inside rows 0-1, cols 0-1


def test_forward_scores_several_positions_for_a_verifier(adapter):
    """k tokens in one pass give the logits k single-token steps would give."""
    prepared = adapter.prepare([_img(84, 112, 8)], "x", "s")
    pre = adapter.embed(prepared)
    nxt = int(pre.position_ids.max()) + 1
    drafted = torch.tensor([[40, 41, 42]])
    pos = (nxt + torch.arange(3)).view(1, 1, 3).expand(3, 1, 3)

    one_pass = adapter.new_cache()
    adapter.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, one_pass)
    mask = torch.ones(1, pre.length + 3, dtype=torch.long)
    multi = adapter.forward(adapter.embed_tokens(drafted), pos, mask, one_pass, last=3)
    assert multi.shape == (1, 3, adapter.vocab_size)

    stepwise = adapter.new_cache()
    adapter.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, stepwise)
    for i in range(3):
        step = adapter.forward(adapter.embed_tokens(drafted[:, i:i + 1]), pos[..., i:i + 1],
                               mask[:, :pre.length + i + 1], stepwise)
        torch.testing.assert_close(step, multi[:, i], atol=1e-4, rtol=1e-4)
