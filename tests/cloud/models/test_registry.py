"""Resolving EngineConfig.model to an adapter; the LLaVA adapter on a tiny random LLaVA."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from cloud.answer.constrained import grammar_for, parse_answer
from cloud.engine.config import EngineConfig
from cloud.engine.runner import ModelRunner, PrefillItem
from cloud.models.base import ModelAdapter
from cloud.models.registry import adapter_class, detect_family, load_adapter


def test_tiny_names_and_unknown_family():
    a = load_adapter(EngineConfig(model="tiny:qwen2_vl"))
    assert a.family == "qwen2_vl" and isinstance(a, ModelAdapter)
    with pytest.raises(ValueError, match="unknown model family"):
        adapter_class("gpt5")


def test_checkpoint_dir_family_is_detected_and_loads(tmp_path):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from cloud.models.tiny import tiny_qwen2_5_vl

    model, tok = tiny_qwen2_5_vl()
    model.save_pretrained(tmp_path)
    Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tok,
                        video_processor=Qwen2VLVideoProcessor()).save_pretrained(tmp_path)
    assert detect_family(str(tmp_path)) == "qwen2_5_vl"
    empty = tmp_path / "empty"
    empty.mkdir()
    a = load_adapter(EngineConfig(model=str(tmp_path)))
    assert a.family == "qwen2_5_vl"
    for p_ours, p_ref in zip(a.model.parameters(), model.parameters()):
        assert torch.equal(p_ours, p_ref)
    with pytest.raises(ValueError, match="config.json"):
        detect_family(str(empty))  # exists but holds no checkpoint
    with pytest.raises(ValueError, match="cannot detect"):
        detect_family("no-such-org/no-such-model")  # hub id, offline


@pytest.fixture(scope="module")
def llava():
    from cloud.models.llava import LlavaAdapter
    from cloud.models.tiny import tiny_llava

    model, tok, proc = tiny_llava(seed=0)
    return LlavaAdapter(model, tok, proc)


def test_llava_prefill_matches_hf_forward(llava):
    img = np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    prepared = llava.prepare([img], "what?", "sys")
    pre = llava.embed(prepared)
    assert pre.position_ids.shape == (1, 1, pre.length) and pre.cls_attention is not None
    assert pre.cls_attention.shape == (pre.n_visual,)
    ours = llava.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, llava.new_cache())
    ref = llava.model(input_ids=prepared.input_ids[None],
                      pixel_values=prepared.model_inputs["pixel_values"]).logits[:, -1]
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def test_llava_batched_answers_parse_with_cls_pruning(llava):
    from cloud.prune import PrunerConfig, build_pruner

    grammar = grammar_for(llava.tokenizer, llava.vocab_size, llava.stop_token_ids)
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=4, importance="cls"))
    runner = ModelRunner(llava, grammar, pruner=pruner, close_reserve=40)
    rng = np.random.default_rng(1)
    items = [PrefillItem(f"r{i}", llava.prepare([rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)],
                                                f"q{i}", "s"), 80) for i in range(3)]
    outs, failed = runner.prefill(items)
    assert not failed
    done = []
    while runner.rows:
        done += runner.release([o.seq_id for o in outs if o.finished])
        if runner.rows:
            outs = runner.decode()
    assert len(done) == 3
    for st in done:
        assert st.visual_tokens == 4 and st.visual_tokens_before_prune == 16
        parse_answer(runner.text_of(st))
