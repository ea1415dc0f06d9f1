"""Configuration of visual-token pruning (the `prune` sub-tree of CloudConfig).

Defaults work offline and reproduce ID-Selection (arXiv 2604.05601) as we read it:
importance from an early LLM layer (layer 2) or the vision [CLS] attention.
The suppression sharpness is not the paper's gamma = 20: gamma = 0 was chosen
on validation scenes of the benchmark VLM (benchmarks/results/prune_gamma_val.json,
gamma in {0, 1, 5, 20}, best mean retention at 16 and 64 tokens), and with
gamma = 0 the selection is plain importance top-k (no diversity term). `budget` is a count (int >= 1) or
a ratio of the visual tokens (float in (0, 1]); `None` keeps every token.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PruneMethod = Literal["none", "random", "fastv", "divprune", "id_selection"]
ImportanceSource = Literal["auto", "text", "cls"]
TextQuery = Literal["last", "all"]
SimilarityFeature = Literal["embeds", "keys"]


class PrunerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: PruneMethod = Field(default="none", description="visual-token pruner: none, random, fastv, divprune or id_selection")
    budget: int | float | None = Field(default=None, description="visual tokens kept per image: a count (int), a fraction in (0, 1] (float), or null = all")
    importance: ImportanceSource = Field(default="auto", description="text: early-layer text attention; cls: vision [CLS] attention; auto: cls when the model has one")
    importance_layer: int = Field(default=2, ge=0, description="LLM layer whose text->visual attention is the importance")
    text_query: TextQuery = Field(default="last", description="which text tokens ask: the last instruction token, or the mean over all")
    gamma: float = Field(default=0.0, ge=0.0, description="ID-Selection suppression sharpness: w_j = exp(-gamma * d_j^2); 0 (plain importance top-k) was chosen on val scenes of the benchmark VLM, see benchmarks/results/prune_gamma_val.json; the paper uses 20")
    similarity: SimilarityFeature = Field(default="embeds", description="features compared for diversity: projected visual embeddings (free) or LM keys")
    reuse_across_frames: bool = Field(default=False, description="reuse a camera's previous selection while its scene is unchanged")
    reuse_similarity: float = Field(default=0.97, gt=0.0, le=1.0, description="mean per-token cosine similarity above which a frame counts as unchanged")
    reuse_max_frames: int = Field(default=8, ge=1, description="re-select at least every this many frames even if the scene looks static")
    box_prior_weight: float = Field(default=0.0, ge=0.0, description="importance multiplier inside the edge's boxes: s * (1 + w * inside_fraction)")
    seed: int = Field(default=0, description="seed of the random pruner")

    @field_validator("budget", mode="before")
    @classmethod
    def _no_bool_budget(cls, v):
        if isinstance(v, bool):
            raise ValueError("budget must be an int count or a float ratio, not a boolean")
        return v

    @field_validator("budget")
    @classmethod
    def _check_budget(cls, v):
        if v is None:
            return v
        if isinstance(v, int):
            if v < 1:
                raise ValueError("a count budget must be >= 1")
        elif not (0.0 < v <= 1.0):
            raise ValueError("a ratio budget must be in (0, 1]")
        return v


def resolve_budget(budget: int | float | None, n_visual: int) -> int:
    """Number of visual tokens to keep out of `n_visual` (at least 1, at most all)."""
    if n_visual <= 0:
        return 0
    if budget is None:
        return n_visual
    if isinstance(budget, float):
        return max(1, min(n_visual, math.ceil(budget * n_visual)))
    return max(1, min(n_visual, int(budget)))
