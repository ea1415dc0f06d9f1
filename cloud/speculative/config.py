"""Configuration of speculative decoding (the `engine.speculative` sub-tree of CloudConfig).

Defaults leave speculation off, so the engine decodes exactly as before. `mode`
"strict" reproduces the target's greedy answer token for token; "loose" is
LVSpec (arXiv 2604.05650): anchors exact, fillers accepted by rank.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SpecMode = Literal["off", "strict", "loose"]
DrafterName = Literal["prompt_lookup", "history", "layer_skip", "small_model", "bandit", "none"]
BanditArm = Literal["prompt_lookup", "history", "layer_skip"]

# Colours, small numbers, places, the object classes a site's detector reports and what they
# do: words in free text that carry what the camera saw (LVSpec's visual-relevant anchors,
# read as vocabulary where the JSON field alone does not say; a summary such as "far right"
# or "empty" is all anchor). Digits in a value are always anchors (cloud/speculative/fields.py).
DEFAULT_ANCHOR_TERMS = (
    "red", "green", "blue", "yellow", "white", "black", "grey", "gray", "orange", "purple",
    "brown", "pink", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "ten", "no", "none", "zero", "empty", "near", "far", "left", "right", "centre", "center",
    "middle", "front", "behind",
    "person", "people", "man", "woman", "child", "car", "truck", "bus", "van", "bicycle", "bike",
    "motorcycle", "bag", "backpack", "suitcase", "package", "dog", "cat", "animal", "vehicle",
    "still", "moving", "stationary", "parked", "walking", "running", "entering", "leaving",
)


class SpeculativeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: SpecMode = Field(
        "off", description="off = plain decoding; strict = exact greedy verification; "
                           "loose = LVSpec (anchors exact, fillers by rank)")
    drafter: DrafterName = Field(
        "prompt_lookup", description="who proposes tokens: n-grams of the prompt and hints, "
                                     "n-grams of the engine's recent answers (history), the "
                                     "target's own early layers, a smaller model, a bandit over "
                                     "bandit_arms, or none (the grammar's forced strings only)")
    draft_tokens: int = Field(4, ge=1, le=32, description="tokens proposed per row per step (the "
                                                          "start value when adaptive)")
    adaptive: bool = Field(True, description="adapt each row's draft length to its acceptance "
                                             "history (+2 after a full accept, -1 otherwise)")
    min_draft_tokens: int = Field(1, ge=1, description="smallest adaptive draft length")
    max_draft_tokens: int = Field(8, ge=1, le=32, description="largest adaptive draft length")
    jump_forward: bool = Field(True, description="emit tokens the grammar forces (the only legal "
                                                 "one) without a model call (SGLang's jump-forward) "
                                                 "and propose forced strings as drafts")
    # prompt lookup
    ngram_max: int = Field(3, ge=1, description="longest suffix n-gram looked up in the context")
    ngram_min: int = Field(1, ge=1, description="shortest suffix n-gram looked up")
    fill_padding: bool = Field(True, description="a free drafter (n-gram look-ups) proposes up to "
                                                 "the verify block's width: columns a shorter row "
                                                 "would pad are computed anyway")
    # retrieval from recent answers
    history_answers: int = Field(256, ge=1, description="history drafter: how many recent "
                                                        "answers its n-gram counts remember")
    # self-speculation by layer skipping
    draft_layers: int | float = Field(
        0.5, gt=0, description="layer-skip drafter: how many of the target's first layers it "
                               "runs (int count, or float fraction of the layers) before the "
                               "final norm and lm_head")
    # smaller-model drafter
    draft_model: str | None = Field(
        None, description="small-model drafter: checkpoint of the same tokenizer family (e.g. "
                          "Qwen2.5-VL-3B for 7B); 'tiny:<family>' for tests")
    draft_seed: int = Field(1, description="seed of a tiny random drafter model (tests)")
    # loose verification
    # top_k / prob_ratio: chosen on val scenes of the free-text workload (benchmarks/spec.py
    # --workload caption --split val): 3 / 0.5 kept the facts of 0.988 vs 0.981 at 5 / 0.3, same
    # accepted length.
    top_k: int = Field(3, ge=1, description="loose: a filler draft token is accepted when it is "
                                            "among the target's top-k (grammar-legal) tokens")
    prob_ratio: float = Field(0.5, ge=0.0, le=1.0, description="loose: ... or when p_target(draft) "
                                                               ">= this x p_target(target's choice); "
                                                               "0 disables the ratio test")
    anchor_fields: tuple[str, ...] = Field(
        ("objects", "label", "count", "threat_level", "action"),
        description="JSON keys whose values are anchors (must match the target exactly); "
                    "'objects' makes the list's brackets anchors (how many objects is a count)")
    anchor_terms: tuple[str, ...] = Field(
        DEFAULT_ANCHOR_TERMS, description="words that are anchors wherever they appear (colours, "
                                          "numbers, places, object classes, actions); a token "
                                          "overlapping one is exact-only (digits and a value's "
                                          "closing token always are)")
    visual_anchor_share: float = Field(
        0.0, ge=0.0, le=1.0, description="loose: a drafted token is also an anchor when the target's "
                                         "attention share on the image, at the position that chooses it, "
                                         "reaches this (LVSpec's visual relevance; one layer read during "
                                         "verification; 0 = off; LLaMA-style RoPE models only)")
    visual_anchor_layer: int | float = Field(
        0.5, ge=0, description="the layer whose attention is read (int index, or float fraction of the layers)")
    position_shift: bool = Field(True, description="loose: salvage a draft that is one position "
                                                   "off the target (reuse its tail as the next draft)")
    bandit_arms: tuple[BanditArm, ...] = Field(
        ("prompt_lookup", "history"), description="drafters the bandit chooses among (MetaSD)")
    bandit_exploration: float = Field(1.0, ge=0.0, description="UCB1 exploration weight")

    @model_validator(mode="after")
    def _bounds(self):
        if self.min_draft_tokens > self.max_draft_tokens:
            raise ValueError("min_draft_tokens must not exceed max_draft_tokens")
        if self.ngram_min > self.ngram_max:
            raise ValueError("ngram_min must not exceed ngram_max")
        if isinstance(self.draft_layers, float) and self.draft_layers > 1.0:
            raise ValueError("a fractional draft_layers must be in (0, 1]")
        if self.drafter == "small_model" and self.mode != "off" and not self.draft_model:
            raise ValueError("drafter small_model needs draft_model")
        return self
