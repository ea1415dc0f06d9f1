"""Head profiles: round-trip through JSON, refusal of another model's profile, the command."""
import asyncio
import json

import pytest

from cloud.kvcache import build_press
from cloud.kvcache.config import KVCacheConfig
from cloud.kvcache.head_profile import HeadProfile, ProfileMismatch, load_for, model_fingerprint
from cloud.kvcache.calibrate import compute_profile

from .conftest import images, mixed_profile


def test_profile_round_trips_through_json(tmp_path, llava):
    profile = mixed_profile(llava)
    path = profile.save(tmp_path / "hybridkv_profile.json")
    assert HeadProfile.load(path) == profile
    assert load_for(path, llava.language_model, llava.model) == profile
    assert json.loads(path.read_text())["fingerprint"] == model_fingerprint(llava.language_model, llava.model)


def test_profile_of_another_model_is_refused_with_the_difference_named(tmp_path, llava, qwen):
    path = mixed_profile(qwen).save(tmp_path / "qwen_profile.json")
    with pytest.raises(ProfileMismatch, match="another model.*k_proj_sha1"):
        load_for(path, llava.language_model, llava.model)
    with pytest.raises(ProfileMismatch):
        build_press(KVCacheConfig(method="hybridkv", profile_path=str(path)), llava.language_model)


def test_same_language_model_behind_another_vision_side_is_refused(tmp_path, llava):
    import copy

    other = copy.deepcopy(llava.model)
    for p in other.model.multi_modal_projector.parameters():
        p.data.add_(0.01)
    path = mixed_profile(llava).save(tmp_path / "p.json")
    with pytest.raises(ProfileMismatch, match="vision_sha1"):
        load_for(path, other.model.language_model, other)


def test_missing_profile_says_how_to_make_one(tmp_path, llava):
    with pytest.raises(FileNotFoundError, match="cloud.kvcache.calibrate"):
        build_press(KVCacheConfig(method="hybridkv", profile_path=str(tmp_path / "none.json")),
                    llava.language_model)


def test_profiling_measures_every_head_and_classifies_by_threshold(qwen):
    samples = [(images(1, seed=i, size=(112, 112)), "What happens? Answer in JSON.", "You watch a camera.")
               for i in range(2)]
    profile = compute_profile(qwen, samples, steps=4)
    lm = qwen.language_model
    assert profile.layers == len(lm.layers) and profile.kv_heads == lm.config.num_key_value_heads
    assert all(0.0 <= x <= 1.0 for row in profile.stability for x in row)
    assert all(0.0 < x <= 1.0 for row in profile.need for x in row)
    everything_static = profile.with_threshold(0.0)
    assert everything_static.dynamic_share() == 0.0
    assert profile.with_threshold(1.01).dynamic_share() == 1.0


def test_engine_refuses_a_profile_for_another_model_and_serves_with_its_own(tmp_path, qwen, llava):
    from cloud.answer.schema import EventDescription
    from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig

    wrong = mixed_profile(llava).save(tmp_path / "wrong.json")
    eng = DescriptionEngine(EngineConfig(max_new_tokens=48, kv={"method": "hybridkv", "profile_path": str(wrong)}),
                            adapter=qwen)
    with pytest.raises(Exception, match="another model"):
        eng.start(wait=True)

    right = mixed_profile(qwen).save(tmp_path / "right.json")

    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=48, kv={"method": "hybridkv", "budget": 0.25,
                                                                    "profile_path": str(right)}), adapter=qwen)
        eng.start()
        try:
            reqs = [DescribeRequest(request_id=f"r{i}", camera_id="c", event_id=f"e{i}",
                                    images=images(2, seed=i, size=(112, 112))) for i in range(2)]
            return await asyncio.gather(*[eng.describe(r) for r in reqs])
        finally:
            await eng.close()

    for result in asyncio.run(main()):
        assert isinstance(result.description, EventDescription)


def test_strict_speculation_over_a_hybridkv_cache_gives_the_plain_hybridkv_answers(tmp_path, qwen):
    """Verify passes append k tokens per row and roll rows back by different amounts: with
    per-position chunk retrieval and exact rollback, strict speculation changes nothing."""
    from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig
    from cloud.speculative.config import SpeculativeConfig

    path = mixed_profile(qwen).save(tmp_path / "p.json")
    kv = {"method": "hybridkv", "budget": 0.3, "chunk_size": 4, "profile_path": str(path)}

    def serve(spec):
        async def main():
            eng = DescriptionEngine(EngineConfig(max_new_tokens=64, max_batch_size=3, kv=kv, speculative=spec),
                                    adapter=qwen).start()
            try:
                reqs = [DescribeRequest(request_id=f"r{i}", camera_id="c", event_id=f"e{i}",
                                        images=images(2, seed=i, size=(112, 112))) for i in range(3)]
                texts = [r.raw_text for r in await asyncio.gather(*[eng.describe(r) for r in reqs])]
                return texts, eng.stats()["speculative"]
            finally:
                await eng.close()
        return asyncio.run(main())

    spec, stats = serve(SpeculativeConfig(mode="strict", drafter="prompt_lookup"))
    plain, _ = serve(SpeculativeConfig())
    assert spec == plain
    assert stats["drafted"] > 0          # multi-token verify passes and rollbacks did happen
