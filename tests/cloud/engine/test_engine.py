"""DescriptionEngine end to end on the tiny random Qwen2.5-VL (async API, model thread).

Every test that takes the model runs on the CPU (float32) and, where a GPU is
present, again on CUDA in bf16 with SDPA attention (the serving configuration).
"""
import asyncio
import json
import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from cloud.answer.schema import EventDescription
from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig
from cloud.engine.engine import DeadlineExceeded, EngineError, EngineOverloaded
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here; the bf16/SDPA variant runs on a GPU machine"))]


@pytest.fixture(scope="module", params=DEVICES)
def adapter(request):
    if request.param == "cuda":
        cuda = Qwen2_5_VLAdapter.tiny(seed=2, dtype=torch.bfloat16, device="cuda")
        assert cuda.model.config._attn_implementation == "sdpa"
        return cuda
    return Qwen2_5_VLAdapter.tiny(seed=2)


def _req(i, cam="cam0", **kw):
    img = np.random.default_rng(i).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    return DescribeRequest(request_id=f"r{i}", camera_id=cam, event_id=f"e{i}", images=[img],
                           detections=[{"label": "person", "score": 0.8, "box": [5, 5, 60, 90]}],
                           hints={"zone": "gate", "dwell_seconds": 4}, **kw)


def _run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_are_batched_and_all_answers_parse(adapter):
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=96, max_batch_size=8), adapter=adapter)
        eng.start()
        try:
            results = await asyncio.gather(*[eng.describe(_req(i, cam=f"c{i % 3}")) for i in range(8)])
        finally:
            await eng.close()
        return eng, results

    eng, results = _run(main())
    assert {r.request_id for r in results} == {f"r{i}" for i in range(8)}
    for r in results:
        assert isinstance(r.description, EventDescription)
        assert EventDescription.model_validate(json.loads(r.text)) == r.description  # strict JSON
        assert r.raw_text.startswith("{")
        assert 0 < r.generated_tokens <= 96 and r.visual_tokens > 0
        assert r.prompt_tokens > r.visual_tokens and r.queue_ms >= 0 and r.decode_ms >= 0
    # Batching: far fewer decode steps than tokens generated one request at a time.
    assert eng.steps["decode"] < sum(r.generated_tokens for r in results) / 2


def test_overload_is_refused_and_backpressure_reaches_one(adapter):
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=64, max_batch_size=1, max_queue=2),
                                adapter=adapter)
        forward = adapter.forward

        def slow_forward(*a, **k):
            time.sleep(0.02)
            return forward(*a, **k)

        adapter.forward = slow_forward
        eng.start()
        levels = []

        async def watch():
            for _ in range(50):
                levels.append(eng.backpressure())
                await asyncio.sleep(0.01)

        try:
            out = await asyncio.gather(watch(), *[eng.describe(_req(i)) for i in range(6)],
                                       return_exceptions=True)
            levels.append(eng.backpressure())  # drained
        finally:
            del adapter.forward
            await eng.close()
        return out[1:], levels

    out, levels = _run(main())
    refused = [o for o in out if isinstance(o, EngineOverloaded)]
    served = [o for o in out if not isinstance(o, Exception)]
    assert refused and served and len(refused) + len(served) == 6
    assert max(levels) == 1.0 and levels[-1] == 0.0


def test_expired_deadline_and_bad_input_raise_clear_errors(adapter):
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=64), adapter=adapter).start()
        try:
            with pytest.raises(DeadlineExceeded):
                await eng.describe(_req(1, deadline=time.time() - 1))
            bad = _req(2)
            bad.images = [np.zeros((10, 10), dtype=np.float32)]
            with pytest.raises(EngineError, match="RGB uint8"):
                await eng.describe(bad)
            ok = await eng.describe(_req(3))  # still serving after errors
            assert ok.description.summary
        finally:
            await eng.close()

    _run(main())


def test_cancelled_request_frees_its_slot(adapter):
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=200, max_batch_size=1), adapter=adapter)
        forward = adapter.forward

        def slow_forward(*a, **k):
            time.sleep(0.01)  # 200 tokens take >= 2 s: the cancel lands mid-decode
            return forward(*a, **k)

        adapter.forward = slow_forward
        eng.start()
        try:
            task = asyncio.create_task(eng.describe(_req(1)))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            second = await asyncio.wait_for(eng.describe(_req(2)), timeout=30)
            assert second.request_id == "r2"
            assert not eng.scheduler.has_work and not eng.runner.rows
        finally:
            del adapter.forward
            await eng.close()

    _run(main())


@pytest.mark.parametrize("device", DEVICES)
def test_default_config_builds_tiny_model_and_warns(caplog, device):
    config = (EngineConfig(max_new_tokens=64) if device == "cpu"
              else EngineConfig(max_new_tokens=64, device="cuda", dtype="bfloat16"))

    async def main():
        eng = DescriptionEngine.from_config(config).start()
        try:
            return await eng.describe(_req(4))
        finally:
            await eng.close()

    with caplog.at_level(logging.WARNING):
        result = _run(main())
    assert "random weights: descriptions are not meaningful" in caplog.text
    assert result.description.threat_level in (0, 1, 2)


def test_config_rejects_typos_and_bad_reserve():
    with pytest.raises(ValueError):
        EngineConfig(max_batch=4)
    with pytest.raises(ValueError):
        EngineConfig(max_new_tokens=32, close_reserve=40)


def test_one_request_failing_to_encode_does_not_fail_its_batch(adapter):
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=64), adapter=adapter)
        embed = adapter.embed

        def flaky_embed(prepared):
            if len(prepared.image_sizes) == 2:
                raise RuntimeError("vision tower exploded")
            return embed(prepared)

        adapter.embed = flaky_embed
        eng.start()
        bad = _req(9)
        bad.images = bad.images * 2
        try:
            return await asyncio.gather(eng.describe(_req(8)), eng.describe(bad), eng.describe(_req(7)),
                                        return_exceptions=True)
        finally:
            del adapter.embed
            await eng.close()

    good1, bad, good2 = _run(main())
    assert isinstance(bad, EngineError) and "vision tower exploded" in str(bad)
    assert good1.description and good2.description


def test_a_crashing_step_fails_its_requests_and_the_engine_keeps_serving(adapter):
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=64), adapter=adapter).start()
        await eng.ready()
        schedule = eng.scheduler.schedule
        calls = {"crashed": False}

        def broken_schedule(now):
            if eng.scheduler.running and not calls["crashed"]:  # mid-decode, outside the model
                calls["crashed"] = True
                raise IndexError("bookkeeping bug")
            return schedule(now)

        eng.scheduler.schedule = broken_schedule
        try:
            first = await asyncio.gather(eng.describe(_req(1)), return_exceptions=True)
            after = await eng.describe(_req(2))
        finally:
            await eng.close()
        return first[0], after

    first, after = _run(main())
    assert isinstance(first, EngineError)
    assert after.description.summary


def test_a_model_that_sees_writes_the_narrative_last_and_others_keep_their_compact_answer():
    """The grammar asks for the narrative only from a model that sees and declares it writes one: a blind
    model's description is rebuilt from the edge's measurements, and a model trained on the compact answer
    (the benchmark VLM) keeps it token for token."""
    adapter = Qwen2_5_VLAdapter.tiny(seed=2)

    def answer(model, writes):
        adapter.writes_narrative = writes

        async def main():
            eng = DescriptionEngine(EngineConfig(model=model, max_new_tokens=160), adapter=adapter).start()
            try:
                return eng.writes_narrative, await eng.describe(_req(1))
            finally:
                await eng.close()
        return _run(main())

    try:
        asked, seeing = answer("/models/a-checkpoint-that-sees", True)
        assert asked
        assert json.loads(seeing.raw_text)["narrative"] and list(json.loads(seeing.raw_text))[-1] == "narrative"
        assert seeing.description.narrative
        asked_compact, compact = answer("/models/a-checkpoint-that-sees", False)
        asked_blind, blind = answer(None, True)
        assert not asked_compact and not asked_blind
        for r in (compact, blind):
            assert "narrative" not in json.loads(r.raw_text) and r.description.narrative == ""
    finally:
        adapter.writes_narrative = True


def test_a_budget_that_cannot_hold_the_shortest_answer_is_refused_at_start():
    adapter = Qwen2_5_VLAdapter.tiny(seed=2)

    async def main():
        eng = DescriptionEngine(EngineConfig(model="/models/sees", max_new_tokens=24), adapter=adapter).start()
        try:
            await eng.ready()
        finally:
            await eng.close()

    with pytest.raises(EngineError, match="max_new_tokens 24 cannot hold the shortest answer"):
        _run(main())
