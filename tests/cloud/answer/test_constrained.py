"""Every answer parses into the alert schema, whatever the weights (DAT: 100% output consistency)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from cloud.answer.constrained import AnswerError, BatchConstraint, grammar_for, parse_answer
from cloud.answer.schema import EventDescription
from cloud.engine.runner import ModelRunner, PrefillItem
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter
from cloud.models.tiny import byte_level_tokenizer
from tests.helpers.grammar_walk import random_answers


@pytest.fixture(scope="module")
def adapter():
    return Qwen2_5_VLAdapter.tiny(seed=3)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (int(rng.integers(60, 200)), int(rng.integers(60, 200)), 3),
                         dtype=np.uint8) for _ in range(n)]


def _run(runner, items):
    outs, failed = runner.prefill(items)
    assert not failed
    texts = {}
    while True:
        finished = [o.seq_id for o in outs if o.finished]
        for st in runner.release(finished):
            texts[st.seq_id] = (runner.text_of(st), len(st.tokens))
        if not runner.rows:
            return texts
        outs = runner.decode()


@pytest.mark.parametrize("max_new_tokens", [64, 160])
def test_random_weights_batched_answers_all_parse(adapter, max_new_tokens):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
    runner = ModelRunner(adapter, grammar, close_reserve=40, temperature=1.0, seed=7)
    items = [PrefillItem(f"s{i}", adapter.prepare([img], f"describe {i}", "sys"), max_new_tokens)
             for i, img in enumerate(_images(6))]
    texts = _run(runner, items)
    assert len(texts) == 6
    for text, n_tokens in texts.values():
        assert n_tokens <= max_new_tokens
        assert isinstance(parse_answer(text), EventDescription)


def test_byte_level_random_logits_fuzz_always_closes_inside_budget():
    """Worst case for the budget: one byte per token, adversarial (random) logits."""
    tok = byte_level_tokenizer()
    grammar = grammar_for(tok, len(tok))
    constraint = BatchConstraint(grammar, close_reserve=40)
    gen = torch.Generator().manual_seed(0)
    budget = 80
    for ids in random_answers(grammar, constraint, len(tok), gen, budget=budget, trials=20):
        assert len(ids) <= budget
        parse_answer(tok.decode(ids))


def test_cut_off_answer_is_reported_not_returned():
    with pytest.raises(AnswerError):
        parse_answer('{"summary":"a man')
    with pytest.raises(AnswerError):
        parse_answer('{"summary":"x","threat_level":7,"objects":[]}')


def test_control_characters_and_lone_surrogates_are_cleaned():
    d = parse_answer('{"summary":"a\x0bb\\ud800","threat_level":1,"objects":[]}')
    assert d.summary.isprintable()
    d.summary.encode("utf-8")  # must be UTF-8 clean for the wire


@pytest.mark.slow
def test_real_vocabulary_answers_close_inside_tight_budgets():
    """SmolLM2's 49k BPE vocabulary: a model may spell the forced keys in more tokens than
    the canonical split; the closing reserve must still fit (this once cut answers)."""
    from cloud.models.smollm_llava import smollm_llava_adapter
    from cloud.prune import PrunerConfig, build_pruner

    try:
        adapter = smollm_llava_adapter()
    except FileNotFoundError as exc:
        pytest.skip(f"SmolLM2 weights not installed: {exc}")
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=16))
    for budget in (32, 48):
        runner = ModelRunner(adapter, grammar, pruner=pruner)
        items = [PrefillItem(f"s{i}", adapter.prepare([img], f"Camera {i}. Describe the event.",
                                                       "You describe camera events."), budget)
                 for i, img in enumerate(_images(4, seed=budget))]
        texts = _run(runner, items)
        assert len(texts) == 4
        for text, n_tokens in texts.values():
            assert n_tokens <= budget
            parse_answer(text)
