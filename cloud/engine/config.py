"""EngineConfig: the `engine` sub-tree of CloudConfig (pydantic, extra="forbid").

Defaults run offline: with `model: null` the engine builds a tiny random-init
Qwen2.5-VL in code (it logs a WARNING: its descriptions are noise).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.engine.scheduler import SchedulingPolicy
from cloud.kvcache.config import KVCacheConfig
from cloud.prune.config import PrunerConfig

ModelFamily = Literal["auto", "qwen2_5_vl", "qwen2_vl", "llava", "smollm_llava"]


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    # None: tiny random Qwen2.5-VL (offline default, noise). "tiny:qwen2_5_vl" / "tiny:qwen2_vl":
    # tiny random models by name. "smollm_llava": SmolLM2-135M + random vision tower (CPU
    # benchmark model). Otherwise a local checkpoint directory or a hub id.
    model: str | None = None
    family: ModelFamily = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    device: str = "cpu"
    max_new_tokens: int = Field(default=256, ge=8)
    # Tokens kept back so a long answer is steered to close inside max_new_tokens;
    # 0 = what the schema's forced tail needs in this tokenizer (cloud/constrained.py).
    close_reserve: int = Field(default=0, ge=0)
    max_batch_size: int = Field(default=16, ge=1)
    # Prompt tokens one prefill step may process (bounds the time decode waits on prefill).
    max_prefill_tokens: int = Field(default=8192, ge=1)
    # Waiting requests before describe() refuses (backpressure() reaches 1 here).
    max_queue: int = Field(default=64, ge=1)
    image_max_side: int = Field(default=448, ge=28)
    max_images_per_request: int = Field(default=4, ge=1)
    draw_boxes: bool = True
    # Reuse the KV of the shared system prompt across requests (cloud/engine/prefix.py).
    prefix_cache: bool = True
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int = 0
    # None keeps torch's default. On a small shared CPU, 1 is often faster: OpenMP barriers
    # between 2 contended threads make skinny (batch-row) GEMMs 10-50x slower.
    torch_threads: int | None = Field(default=None, ge=1)
    scheduling: SchedulingPolicy = SchedulingPolicy()
    pruner: PrunerConfig = PrunerConfig()
    # KV cache compression after prefill (cloud/kvcache): HybridKV or a baseline press.
    kv: KVCacheConfig = KVCacheConfig()

    @model_validator(mode="after")
    def _reserve_fits(self):
        if self.close_reserve >= self.max_new_tokens:
            raise ValueError("close_reserve must be smaller than max_new_tokens")
        return self
