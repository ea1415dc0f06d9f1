"""Which model to load and how: the settings `load_adapter` reads (EngineConfig's model fields take
their defaults from here, so a drafter or the head-profile tool loads exactly what the engine would)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelFamily = Literal["auto", "qwen2_5_vl", "qwen2_vl", "llava", "smollm_llava"]
ModelDtype = Literal["auto", "float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class ModelChoice:
    model: str | None = None
    family: ModelFamily = "auto"
    dtype: ModelDtype = "float32"
    device: str = "cpu"
    image_max_side: int = 448
    seed: int = 0
