"""Whether a configured model sees the images it is given (read from the configuration, before loading).

A model whose vision side is random reads only the prompt: the tiny random test models
(``engine.model`` null or ``tiny:<family>``), SmolLM2 with an untrained vision tower
(``smollm_llava``) and the model-free stub. Alerts mark what such a model writes and keep to the
edge's measurements (cloud/alerts/seeing.py). A checkpoint, and ``vigil-bench-vlm`` (its vision
side is trained), see.
"""
from __future__ import annotations

SMOLLM_LLAVA = "smollm_llava"              # as cloud/models/registry.py names it
BLIND_PREFIXES = ("tiny:", "stub:")


def sees_images(model: str | None, family: str = "auto") -> bool:
    if model is None or model.startswith(BLIND_PREFIXES):
        return False
    return SMOLLM_LLAVA not in (model, family)
