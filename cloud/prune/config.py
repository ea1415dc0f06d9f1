"""Configuration of visual-token pruning (the `prune` sub-tree of CloudConfig).

Defaults work offline and reproduce ID-Selection as we read it (papers.md §2):
importance from an early LLM layer (layer 2) or the vision [CLS] attention,
gamma = 20 for the similarity suppression. `budget` is a count (int >= 1) or
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

    method: PruneMethod = "none"
    # int: number of visual tokens kept; float in (0, 1]: fraction kept; None: keep all.
    budget: int | float | None = None
    # Where importance comes from: "text" = attention of the text to the visual tokens at
    # `importance_layer` of the LLM; "cls" = the vision encoder's [CLS] attention;
    # "auto" = [CLS] when the model has one, else text.
    importance: ImportanceSource = "auto"
    importance_layer: int = Field(default=2, ge=0)
    # Which text tokens ask: the last instruction token, or the mean over all text tokens.
    text_query: TextQuery = "last"
    # Suppression sharpness: w_j = exp(-gamma * d_j^2), d_j = 1 - cos(token_j, pick).
    gamma: float = Field(default=20.0, ge=0.0)
    # Features compared for diversity: projected visual embeddings (free) or LM keys.
    similarity: SimilarityFeature = "embeds"
    # Reuse the previous selection of the same camera while the scene is unchanged.
    reuse_across_frames: bool = False
    # Mean per-token cosine similarity to the cached frame above which it is "unchanged".
    reuse_similarity: float = Field(default=0.97, gt=0.0, le=1.0)
    # Re-select at least every this many frames even if the scene looks static.
    reuse_max_frames: int = Field(default=8, ge=1)
    # Importance multiplier inside the edge's boxes: s * (1 + w * inside_fraction).
    box_prior_weight: float = Field(default=0.0, ge=0.0)
    seed: int = 0

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
