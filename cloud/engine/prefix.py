"""Shared-prompt prefix cache: the system prompt's KV is computed once, not per request.

Every description request starts with the same tokens: the chat template and
the system prompt, up to the first image. Their keys and values depend only
on those tokens and their positions (0..P-1, also under M-RoPE, where text
positions are equal in all three rows), so they are identical for every
request. Like SGLang's RadixAttention / vLLM's prefix caching, but for the
single prefix that matters here: the first prefill stores the KV of its
text-before-the-first-image, and every later prompt that starts with exactly
those tokens only prefills its suffix on top of a copy of it. With visual
tokens pruned to a few dozen, the system prompt is a large share of prefill.

The prefix is never pruned (it holds no visual token), and a prompt whose
prefix differs (another system prompt, another family) simply prefills in
full.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from cloud.models.base import PrefillInputs

# Shorter shared prefixes are not worth a separate forward and a cache copy.
MIN_PREFIX_TOKENS = 16


@dataclass
class PrefixCache:
    ids: torch.Tensor                     # [P] token ids
    kv: list[tuple[torch.Tensor, torch.Tensor]]   # per layer, [1, heads, P, head_dim]

    @property
    def length(self) -> int:
        return int(self.ids.numel())

    def matches(self, pre: PrefillInputs) -> bool:
        p = self.length
        return (pre.length > p
                and not bool(pre.visual_token_mask[0, :p].any())
                and torch.equal(pre.input_ids[0, :p].cpu(), self.ids)
                and bool((pre.position_ids[..., :p] == torch.arange(p, device=pre.position_ids.device)).all()))

    def cache_for(self, rows: int, new_cache: Callable[[], Any]) -> Any:
        """A fresh cache holding the prefix KV for `rows` rows."""
        cache = new_cache()
        for layer, (k, v) in enumerate(self.kv):
            cache.update(k.expand(rows, -1, -1, -1).contiguous(),
                         v.expand(rows, -1, -1, -1).contiguous(), layer)
        return cache


def shared_prefix_length(pre: PrefillInputs) -> int:
    """Tokens before the first visual token (0 if the prompt has none)."""
    visual = pre.visual_token_mask[0].nonzero()
    return int(visual[0]) if len(visual) else 0


def build_prefix(adapter: Any, pre: PrefillInputs) -> PrefixCache | None:
    """Run the LM on `pre`'s text-before-the-first-image and keep its KV."""
    p = shared_prefix_length(pre)
    if p < MIN_PREFIX_TOKENS:
        return None
    cache = adapter.new_cache()
    adapter.forward(pre.inputs_embeds[:, :p], pre.position_ids[..., :p],
                    pre.attention_mask[:, :p], cache)
    kv = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers
          if getattr(layer, "is_initialized", False)]
    return PrefixCache(ids=pre.input_ids[0, :p].cpu().clone(), kv=kv)
