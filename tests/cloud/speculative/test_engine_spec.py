"""The engine with speculation configured: same answers (strict) through continuous batching."""
import asyncio
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter
from cloud.speculative.config import SpeculativeConfig


@pytest.fixture(scope="module")
def adapter():
    return Qwen2_5_VLAdapter.tiny(seed=3)


def _req(i):
    img = np.random.default_rng(i).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    return DescribeRequest(request_id=f"r{i}", camera_id=f"c{i % 2}", event_id=f"e{i}", images=[img],
                           detections=[{"label": "person", "score": 0.8, "box": [5, 5, 60, 90]}],
                           hints={"zone": "gate"})


def _serve(adapter, spec):
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=80, max_batch_size=3, speculative=spec),
                                adapter=adapter).start()
        try:
            out = await asyncio.gather(*[eng.describe(_req(i)) for i in range(5)])
            return out, eng.stats()
        finally:
            await eng.close()
    return asyncio.run(main())


def test_engine_strict_speculation_gives_the_plain_answers_and_reports_stats(adapter):
    plain, plain_stats = _serve(adapter, SpeculativeConfig())
    spec, spec_stats = _serve(adapter, SpeculativeConfig(mode="strict", drafter="bandit"))
    assert [r.raw_text for r in spec] == [r.raw_text for r in plain]
    assert plain_stats["speculative"] is None
    s = spec_stats["speculative"]
    assert s["emitted"] > 0 and s["mean_accepted_length"] >= 1.0
    assert spec_stats["steps"]["decode"] < plain_stats["steps"]["decode"]


def test_strict_speculation_over_a_compressed_kv_cache_gives_the_compressed_greedy_answers(adapter):
    from cloud.kvcache.config import KVCacheConfig

    kv = KVCacheConfig(method="snapkv", budget=0.5)

    def serve(spec):
        async def main():
            eng = DescriptionEngine(EngineConfig(max_new_tokens=80, max_batch_size=3, speculative=spec,
                                                 kv=kv), adapter=adapter).start()
            try:
                return await asyncio.gather(*[eng.describe(_req(i)) for i in range(4)])
            finally:
                await eng.close()
        return [r.raw_text for r in asyncio.run(main())]

    assert serve(SpeculativeConfig(mode="strict", drafter="prompt_lookup")) == serve(SpeculativeConfig())


def test_layer_skip_with_a_kv_press_is_a_config_error():
    from cloud.kvcache.config import KVCacheConfig

    spec = SpeculativeConfig(mode="loose", drafter="bandit", bandit_arms=("prompt_lookup", "layer_skip"))
    with pytest.raises(ValueError, match="layer_skip"):
        EngineConfig(kv=KVCacheConfig(method="snapkv"), speculative=spec)
