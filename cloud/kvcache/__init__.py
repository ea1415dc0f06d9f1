"""KV cache compression: the KVPress interface, HybridKV and its baselines, the ragged cache.

Names resolve lazily (PEP 562) so reading the config does not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

PRESS_MODULES = {
    "full": ("cloud.kvcache.presses.full", "FullPress"),
    "hybridkv": ("cloud.kvcache.presses.hybrid", "HybridKVPress"),
    "uniform": ("cloud.kvcache.presses.uniform", "UniformPress"),
    "snapkv": ("cloud.kvcache.presses.snapkv", "SnapKVPress"),
    "streaming_llm": ("cloud.kvcache.presses.streaming_llm", "StreamingLLMPress"),
}
_EXPORTS = {
    "KVCacheConfig": "cloud.kvcache.config",
    "KVPress": "cloud.kvcache.base",
    "HeadProfile": "cloud.kvcache.head_profile",
    "ProfileMismatch": "cloud.kvcache.head_profile",
    "RaggedBatchKV": "cloud.kvcache.batch",
    "RaggedCache": "cloud.kvcache.ragged",
}
__all__ = sorted(_EXPORTS) + ["press_class", "build_press"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cloud.kvcache' has no attribute {name!r}")


def press_class(method: str) -> type:
    module, cls = PRESS_MODULES[method]
    return getattr(importlib.import_module(module), cls)


def build_press(config: Any, language_model: Any, *, model: str | None = None, seed: int = 0,
                profile: Any = None, vlm: Any = None) -> Any:
    """The press `config.method` names, attached to `language_model`.

    hybridkv loads its head profile from `config.profile_path` or beside the model and
    refuses one measured on another model (ProfileMismatch); `vlm` (the whole model) lets
    the check cover its vision-to-LM projection too.
    """
    cls = press_class(config.method)
    if config.method == "hybridkv" and profile is None:
        from cloud.kvcache.head_profile import default_profile_path, load_for

        path = config.profile_path or default_profile_path(model, seed)
        if path is None:
            raise ValueError(f"hybridkv: model {model!r} has no folder for a head profile; "
                             "set engine.kv.profile_path")
        profile = load_for(path, language_model, vlm)
    press = cls(config, profile=profile) if config.method == "hybridkv" else cls(config)
    return press.attach(language_model)
