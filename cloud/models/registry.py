"""Typed registry of model adapters: family name -> ModelAdapter class.

`load_adapter(cfg)` resolves `cfg.model` (an EngineConfig or a ModelChoice: choice.py):
- None: the tiny random Qwen2.5-VL (offline default; logged as noise),
- "tiny:<family>": a tiny random model of that family,
- "smollm_llava": SmolLM2-135M language weights + random vision tower
  (cloud/models/smollm_llava.py, the CPU benchmark model) behind the LLaVA adapter,
- "vigil-bench-vlm": SmolLM2-135M + a vision side trained on procedural scenes
  (cloud/models/bench/vlm.py; it sees: quality is measured against ground truth),
- a local checkpoint directory or hub id: the family comes from `cfg.family`
  or, with "auto", from the checkpoint's config.json `model_type`.
Family modules are imported lazily so a process imports only what it loads.
"""
from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from cloud.models.choice import ModelChoice

if TYPE_CHECKING:
    from cloud.models.base import ModelAdapter

log = logging.getLogger(__name__)

_ADAPTERS: dict[str, type] = {}
_MODEL_TYPES: dict[str, str] = {}       # HF config model_type -> family
# Where each family's adapter lives (imported on first use).
FAMILY_MODULES = {
    "qwen2_5_vl": "cloud.models.qwen2_5_vl",
    "qwen2_vl": "cloud.models.qwen2_vl",
    "llava": "cloud.models.llava",
}
# A built model, not a family: SmolLM2 weights in a LLaVA body, served by the LLaVA adapter.
SMOLLM_LLAVA = "smollm_llava"
# Built models: the module, the function that builds the adapter and the one that names the folder
# of the model's files (imported by name on first use; benchmark-only models live in models/bench/).
BUILT_MODELS = {
    SMOLLM_LLAVA: ("cloud.models.smollm_llava", "smollm_llava_adapter", "built_model_dir"),
    "vigil-bench-vlm": ("cloud.models.bench.vlm", "bench_vlm_adapter", "files_dir"),
}
MODEL_TYPE_FAMILIES = {"qwen2_5_vl": "qwen2_5_vl", "qwen2_vl": "qwen2_vl", "llava": "llava"}
# Known families we do not serve yet: anyres tiling gives a variable token count per image,
# which the LLaVA adapter (fixed 576-token grid) does not handle.
UNSUPPORTED_MODEL_TYPES = {"llava_onevision": "LLaVA-OneVision", "llava_next": "LLaVA-NeXT"}
RANDOM_WEIGHTS_WARNING = "random weights: descriptions are not meaningful"


def register(family: str, model_types: tuple[str, ...] = ()) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        _ADAPTERS[family] = cls
        for mt in model_types:
            _MODEL_TYPES[mt] = family
        return cls
    return deco


def adapter_class(family: str) -> type:
    if family not in _ADAPTERS:
        module = FAMILY_MODULES.get(family)
        if module is None:
            raise ValueError(f"unknown model family {family!r}; known: {sorted(FAMILY_MODULES)}")
        importlib.import_module(module)
    if family not in _ADAPTERS:
        raise ValueError(f"module {FAMILY_MODULES[family]} did not register family {family!r}")
    return _ADAPTERS[family]


def detect_family(model: str) -> str:
    """Family of a checkpoint directory or hub id from its config's model_type."""
    cfg_path = Path(model) / "config.json"
    if cfg_path.is_file():
        model_type = json.loads(cfg_path.read_text()).get("model_type", "")
    elif Path(model).exists() or "/" not in model:
        raise ValueError(f"cannot detect the family of {model!r} (no config.json); "
                         "set engine.family")
    else:  # a hub id: its config (fails fast offline, HF_HUB_OFFLINE=1)
        try:
            from transformers import AutoConfig
            model_type = AutoConfig.from_pretrained(model).model_type
        except Exception as exc:
            raise ValueError(f"cannot detect the family of {model!r}: {exc}; "
                             "set engine.family or use a local checkpoint") from exc
    family = _MODEL_TYPES.get(model_type) or MODEL_TYPE_FAMILIES.get(model_type)
    if family is None and model_type in UNSUPPORTED_MODEL_TYPES:
        raise ValueError(f"{model!r} is a {UNSUPPORTED_MODEL_TYPES[model_type]} checkpoint, which Vigil does not serve "
                         "yet (anyres tiling); use a Qwen2.5-VL, Qwen2-VL or LLaVA-1.5 checkpoint")
    if family is None:
        raise ValueError(f"{model!r} has model_type {model_type!r}, which no adapter serves; "
                         f"set engine.family to one of {sorted(FAMILY_MODULES)}")
    return family


def built_model(name: str) -> Callable[..., "ModelAdapter"]:
    module, build, _ = BUILT_MODELS[name]
    return getattr(importlib.import_module(module), build)


def built_model_files(name: str | None, seed: int = 0) -> Path | None:
    """The folder of a built model's files (None for any other model)."""
    if name not in BUILT_MODELS:
        return None
    module, _, files = BUILT_MODELS[name]
    return getattr(importlib.import_module(module), files)(seed)


def load_adapter(cfg: "ModelChoice") -> "ModelAdapter":
    import torch

    dtype = {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16,
             "float16": torch.float16}[cfg.dtype]
    kw = dict(dtype=dtype, device=cfg.device, image_max_side=cfg.image_max_side)
    if cfg.model is None or cfg.model.startswith("tiny:"):
        family = "qwen2_5_vl" if cfg.model is None else cfg.model.split(":", 1)[1]
        log.warning("engine model %s: tiny %s built in code, %s", cfg.model, family,
                    RANDOM_WEIGHTS_WARNING)
        return adapter_class(family).tiny(seed=cfg.seed, **kw)
    if cfg.model == "vigil-bench-vlm":  # SmolLM2 + a vision side trained on benchmarks/scenes
        return built_model(cfg.model)(image_max_side=cfg.image_max_side)
    if cfg.model == SMOLLM_LLAVA or cfg.family == SMOLLM_LLAVA:
        log.warning("engine model smollm_llava: real SmolLM2 language weights, random vision "
                    "tower: %s", RANDOM_WEIGHTS_WARNING)
        return built_model(SMOLLM_LLAVA)(seed=cfg.seed, image_max_side=cfg.image_max_side)
    family = cfg.family if cfg.family != "auto" else detect_family(cfg.model)
    return adapter_class(family).from_pretrained(cfg.model, **kw)
