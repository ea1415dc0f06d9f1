"""EngineConfig: the `engine` sub-tree of CloudConfig (pydantic, extra="forbid").

Defaults run offline: with `model: null` the engine builds a tiny random-init
Qwen2.5-VL in code (it logs a WARNING: its descriptions are noise).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.engine.scheduler import SchedulingPolicy
from cloud.kvcache.config import KVCacheConfig
from cloud.models.choice import ModelChoice, ModelDtype, ModelFamily
from cloud.prune.config import PrunerConfig
from cloud.speculative.config import SpeculativeConfig

_MODEL = ModelChoice()   # the model fields' defaults: what load_adapter assumes when not told


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str | None = Field(default=_MODEL.model, description="null: tiny random Qwen2.5-VL (noise); tiny:<family>; smollm_llava (CPU benchmark model); or a checkpoint directory / hub id")
    family: ModelFamily = Field(default=_MODEL.family, description="adapter family; auto = from the checkpoint's config.json")
    dtype: ModelDtype = Field(default=_MODEL.dtype, description="model weights' dtype")
    device: str = Field(default=_MODEL.device, description="torch device of the model (cpu, cuda, cuda:1, ...)")
    max_new_tokens: int = Field(default=256, ge=8, description="longest answer in tokens")
    close_reserve: int = Field(default=0, ge=0, description="tokens kept back so a long answer closes inside max_new_tokens (0 = what the schema's forced tail needs)")
    max_batch_size: int = Field(default=16, ge=1, description="requests decoded together")
    max_prefill_tokens: int = Field(default=8192, ge=1, description="prompt tokens one prefill step may process (bounds how long decoding waits)")
    max_queue: int = Field(default=64, ge=1, description="waiting requests before describe() refuses (backpressure reaches 1 here)")
    image_max_side: int = Field(default=_MODEL.image_max_side, ge=28, description="images are downscaled so their longer side is at most this")
    max_images_per_request: int = Field(default=4, ge=1, description="key frames of one event given to the model")
    draw_boxes: bool = Field(default=True, description="draw the edge's boxes and labels on the model's images (visual guidance)")
    prefix_cache: bool = Field(default=True, description="reuse the shared system prompt's KV across requests")
    temperature: float = Field(default=0.0, ge=0.0, description="sampling temperature; 0 = greedy")
    seed: int = Field(default=_MODEL.seed, description="seed of sampling and of the tiny random models")
    # On a small shared CPU, 1 is often faster: OpenMP barriers between contended threads make
    # skinny (batch-row) GEMMs many times slower.
    torch_threads: int | None = Field(default=None, ge=1, description="torch intra-op threads (null = torch's default)")
    scheduling: SchedulingPolicy = SchedulingPolicy()
    pruner: PrunerConfig = PrunerConfig()
    speculative: SpeculativeConfig = Field(
        default_factory=SpeculativeConfig,
        description="speculative decoding (drafters, strict/loose verification)")
    kv: KVCacheConfig = Field(default_factory=KVCacheConfig,
                              description="KV cache compression after prefill (cloud/kvcache): HybridKV or a baseline press")

    @model_validator(mode="after")
    def _reserve_fits(self):
        if self.close_reserve >= self.max_new_tokens:
            raise ValueError("close_reserve must be smaller than max_new_tokens")
        spec = self.speculative
        if (spec.mode != "off" and self.kv.method != "full"
                and (spec.drafter == "layer_skip" or
                     (spec.drafter == "bandit" and "layer_skip" in spec.bandit_arms))):
            raise ValueError("the layer_skip drafter reads the plain KV cache; with a KV press "
                             "(kv.method != full) use prompt_lookup or small_model")
        return self
