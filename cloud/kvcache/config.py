"""Configuration of KV cache compression (the `kv` sub-tree of EngineConfig).

`method` picks a press (cloud/kvcache/presses): "full" keeps the whole cache (the
engine's ordinary path), "hybridkv" is HybridKV with a head profile, the others are
its baselines at the same budget. `budget` is the fraction of the visual tokens' KV kept,
averaged over heads; text tokens are always kept by every method.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PressMethod = Literal["full", "hybridkv", "uniform", "snapkv", "streaming_llm"]


class KVCacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: PressMethod = Field("full", description="KV press: full (no compression), hybridkv, or a baseline "
                                "(uniform per-head budget, snapkv, streaming_llm)")
    budget: float = Field(0.125, gt=0.0, le=1.0, description="fraction of the visual tokens' KV kept, "
                          "averaged over heads (1.0 keeps everything)")
    chunk_size: int = Field(16, ge=1, description="visual tokens per chunk of a dynamic head "
                            "(one summary key each)")
    retrieval_ratio: float = Field(0.5, gt=0.0, le=1.0, description="share of a dynamic head's held chunks "
                                   "it attends at each decode step (all of them at budget 1.0)")
    sinks: int = Field(4, ge=0, description="first tokens of the prompt every head keeps (attention sinks)")
    recent_window: int = Field(16, ge=0, description="last prompt tokens every head keeps")
    observation_window: int = Field(32, ge=1, description="last prompt tokens whose attention scores "
                                    "the visual tokens (text prior / SnapKV window)")
    pool_kernel: int = Field(5, ge=1, description="SnapKV's smoothing of scores over neighbouring tokens")
    profile_path: str | None = Field(None, description="head profile JSON for hybridkv; None = "
                                     "hybridkv_profile.json beside the model")
