"""The real-weights CPU benchmark model (SmolLM2-135M language weights + random CLIP tower)."""
import os

import pytest
import torch

from cloud.models.frames import sample_frames
from cloud.engine import greedy
from cloud.models.smollm_llava import smollm_llava_adapter
from cloud.prune import PrunerConfig, build_pruner

pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def adapter():
    return smollm_llava_adapter()  # ~25 s the first time, then from .cache/


def test_geometry_and_projector_scale(adapter):
    assert adapter.tokens_per_image == 576 and adapter.language_model.config.num_hidden_layers == 30
    visual, cls_att = adapter.encode_images(adapter.pixel_values(sample_frames("bikes.mp4", 1, start=50)))
    text_rms = adapter.language_model.embed_tokens.weight.pow(2).mean().sqrt()
    ratio = float(visual.pow(2).mean().sqrt() / text_rms)
    assert visual.shape == (1, 576, 576) and cls_att.shape == (1, 576)
    assert 0.7 < ratio < 1.4


def test_generates_english_text_without_and_with_pruning(adapter):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    frame = sample_frames("bikes.mp4", 1, start=50)
    # Text only: SmolLM2's own knowledge must come through the LLaVA wrapper intact.
    ids, _ = greedy.generate(adapter, adapter.prepare([], "What is the capital of France?", ""),
                             max_new_tokens=12)
    assert "Paris" in adapter.tokenizer.decode(ids)
    for pruner in (None, build_pruner(PrunerConfig(method="id_selection", budget=16))):
        ids, pre = greedy.generate(adapter, adapter.prepare(frame, "Describe the picture.", ""), max_new_tokens=12,
                                   pruner=pruner)
        words = adapter.tokenizer.decode(ids).split()
        assert pre.n_kept == (576 if pruner is None else 16) and len(words) >= 3
        assert sum(w.strip('.,:;"!?').isalpha() for w in words) >= len(words) // 2
