"""The generate() baselines decode under the engine's grammar and budget: answers parse, and one
request decoded alone gives the engine's own answer (greedy, same constraint)."""
import asyncio
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from cloud.answer.constrained import grammar_for, parse_answer
from cloud.answer.prompting import build_prompt
from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig
from cloud.engine.baselines import generate_batch
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter

BUDGET = 48   # tight: random weights wander, so the closing reserve must do its work


@pytest.fixture(scope="module")
def adapter():
    return Qwen2_5_VLAdapter.tiny(seed=2)


def _req(i):
    img = np.random.default_rng(i).integers(0, 255, (96 + 8 * i, 128, 3), dtype=np.uint8)
    return DescribeRequest(request_id=f"r{i}", camera_id="cam0", event_id=f"e{i}", images=[img],
                           detections=[{"label": "person", "score": 0.8, "box": [5, 5, 60, 90]}],
                           hints={"zone": "gate", "dwell_seconds": 4 + i})


def _prepared(adapter, req):
    guided = build_prompt(req)
    return adapter.prepare(guided.images, guided.user, guided.system)


def test_one_by_one_generate_matches_the_engine(adapter):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
    req = _req(0)
    [out] = generate_batch(adapter, grammar, [_prepared(adapter, req)], BUDGET)

    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=BUDGET, prefix_cache=False), adapter=adapter).start()
        try:
            return await eng.describe(req)
        finally:
            await eng.close()

    res = asyncio.run(main())
    parse_answer(out.text)
    assert out.tokens <= BUDGET
    assert (out.text, out.tokens) == (res.raw_text, res.generated_tokens)


def test_static_batch_answers_all_parse_within_budget(adapter):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, adapter.stop_token_ids)
    outs = generate_batch(adapter, grammar, [_prepared(adapter, _req(i)) for i in range(4)], BUDGET)
    assert len(outs) == 4
    for out in outs:
        parse_answer(out.text)
        assert 0 < out.tokens <= BUDGET
