import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from cloud.kvcache.head_profile import HeadProfile, model_fingerprint


@pytest.fixture(scope="session")
def llava():
    from cloud.models.llava import LlavaAdapter

    return LlavaAdapter.tiny(seed=1)


@pytest.fixture(scope="session")
def qwen():
    from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter

    return Qwen2_5_VLAdapter.tiny(seed=3)


def mixed_profile(adapter) -> HeadProfile:
    """Alternating static/dynamic heads, uneven needs: exercises both paths of every layer."""
    lm = adapter.language_model
    layers, heads = len(lm.layers), lm.config.num_key_value_heads
    classes = [["static" if (i + h) % 2 == 0 else "dynamic" for h in range(heads)] for i in range(layers)]
    need = [[0.2 + 0.3 * ((i * heads + h) % 3) for h in range(heads)] for i in range(layers)]
    return HeadProfile(fingerprint=model_fingerprint(lm, adapter.model), classes=classes,
                       stability=[[0.5] * heads for _ in range(layers)], need=need, threshold=0.5)


def images(n, seed=0, size=(56, 56)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (*size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
