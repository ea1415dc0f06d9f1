"""Drafters and verifiers by name (SpeculativeConfig.drafter / .mode), and the speculator
the engine attaches to its runner."""
from __future__ import annotations

from typing import Any


def image_token_id(adapter: Any) -> int | None:
    """The image placeholder id of an adapter (prompt lookup skips those slots)."""
    for obj in (adapter, getattr(adapter, "inner", None)):
        value = getattr(obj, "image_token_id", None)
        if value is not None:
            return int(value)
    return None


def build_drafter(config: Any, name: str | None = None, draft_adapter: Any = None):
    """The drafter named by `name` (default: config.drafter)."""
    name = name or config.drafter
    if name == "prompt_lookup":
        from cloud.speculative.prompt_lookup import PromptLookupDrafter
        return PromptLookupDrafter(config.ngram_max, config.ngram_min)
    if name == "history":
        from cloud.speculative.history_lookup import HistoryDrafter
        return HistoryDrafter(config.history_answers, config.ngram_max, config.ngram_min)
    if name == "none":
        from cloud.speculative.drafter import NoDrafter
        return NoDrafter()
    if name == "layer_skip":
        from cloud.speculative.layer_skip import LayerSkipDrafter
        return LayerSkipDrafter(config.draft_layers)
    if name == "small_model":
        from cloud.speculative.small_model import SmallModelDrafter
        if draft_adapter is None:
            draft_adapter = load_draft_adapter(config)
        return SmallModelDrafter(draft_adapter)
    if name == "bandit":
        from cloud.speculative.bandit import BanditDrafter
        return BanditDrafter([build_drafter(config, arm) for arm in config.bandit_arms],
                             config.bandit_exploration)
    raise ValueError(f"unknown drafter {name!r}")


def load_draft_adapter(config: Any, device: str = "cpu"):
    """The small drafter model named by config.draft_model ('tiny:<family>' or a checkpoint)."""
    from cloud.models.choice import ModelChoice
    from cloud.models.registry import load_adapter

    return load_adapter(ModelChoice(model=config.draft_model, seed=config.draft_seed, device=device))


def build_speculator(config: Any, adapter: Any, draft_adapter: Any = None):
    from cloud.speculative.speculator import Speculator

    visual = None
    if config.mode == "loose" and config.visual_anchor_share > 0:
        from cloud.speculative.visual import VisualAnchors, VisualAttentionProbe
        visual = VisualAnchors(VisualAttentionProbe.for_adapter(adapter, config.visual_anchor_layer),
                               config.visual_anchor_share)
    return Speculator(config, build_drafter(config, draft_adapter=draft_adapter),
                      tokenizer=adapter.tokenizer, image_token_id=image_token_id(adapter), visual=visual)
