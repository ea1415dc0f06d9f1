"""Visual relevance of a drafted token: how much the target looks at the image when it chooses it.

LVSpec (arXiv 2604.05650) keeps "visual-relevant anchor" tokens exact and loosens the rest. Besides
the structural anchors (cloud/speculative/fields.py), the paper's signal is attention: a token the
model writes while attending strongly to the visual tokens carries what it saw. We read it during
verification at modest cost: one decoder layer's self-attention gets a forward hook (kvpress's
way of attaching to a model) that keeps that layer's rotated queries for the verify block; after
the pass, the queries are scored against the same layer's cached keys (the block's own included,
causally), and the attention mass on the image's columns, averaged over heads, is each block
position's visual share. The share at the position whose logits choose a token is that token's.

Choices where the paper is vague:
- one layer, not all (the cost is one q projection and one [T, S] score matrix per row), chosen in
  the configuration (`visual_anchor_layer`, default the middle of the stack);
- heads averaged, not max: one head that always sinks into the image would make every token an anchor;
- a fixed threshold on the share (`visual_anchor_share`), chosen on validation scenes.
Supported where the language model uses 1-D RoPE (LLaMA, SmolLM2, LLaVA's LM); M-RoPE (Qwen2-VL,
Qwen2.5-VL) is refused when the speculator is built.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch


def layer_index(spec: int | float, n_layers: int) -> int:
    """A layer count (int) or fraction of the stack (float) as an index into the layers."""
    index = int(spec) if isinstance(spec, int) else int(round(spec * (n_layers - 1)))
    if not 0 <= index < n_layers:
        raise ValueError(f"visual_anchor_layer {spec} is outside the model's {n_layers} layers")
    return index


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class VisualAttentionProbe:
    """Reads one layer's attention share on the image for every position of a forward pass."""

    def __init__(self, attention: torch.nn.Module, layer: int):
        self.attention = attention
        self.layer = layer
        config = attention.config
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(getattr(config, "num_key_value_heads", None) or self.heads)
        self.head_dim = int(getattr(attention, "head_dim", 0) or config.hidden_size // self.heads)
        self.scaling = float(getattr(attention, "scaling", self.head_dim ** -0.5))
        self.queries: torch.Tensor | None = None   # [B, H, T, d] of the last captured pass

    @classmethod
    def for_adapter(cls, adapter: Any, layer_spec: int | float) -> "VisualAttentionProbe":
        layers = adapter.language_model.layers
        index = layer_index(layer_spec, len(layers))
        if getattr(adapter, "position_rows", 1) != 1:
            raise ValueError("visual anchors need a language model with 1-D RoPE; this model uses M-RoPE")
        return cls(layers[index].self_attn, index)

    def _hook(self, module, args, kwargs, output) -> None:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        cos, sin = kwargs["position_embeddings"]
        b, t, _ = hidden.shape
        q = module.q_proj(hidden).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        self.queries = q * cos + _rotate_half(q) * sin

    @contextlib.contextmanager
    def capture(self) -> Iterator["VisualAttentionProbe"]:
        """Keep the layer's queries of the passes run inside (the verify forward)."""
        handle = self.attention.register_forward_hook(self._hook, with_kwargs=True)
        try:
            yield self
        finally:
            handle.remove()

    def share(self, keys: torch.Tensor, mask: torch.Tensor, image_columns: torch.Tensor) -> torch.Tensor:
        """[B, T] attention mass on `image_columns` ([B, S] bool) for the T captured positions.

        `keys`: the layer's cached keys [B, KVH, S, d] after the pass (the block's own are the last
        T columns); `mask`: [B, S], 1 where a column is a real token."""
        q = self.queries
        if q is None:
            raise RuntimeError("no pass was captured")
        t, s = q.shape[2], keys.shape[2]
        k = keys.repeat_interleave(self.heads // self.kv_heads, dim=1).to(q.dtype)
        scores = (q @ k.transpose(-1, -2)) * self.scaling                       # [B, H, T, S]
        allowed = mask[:, None, None, :].to(torch.bool).to(q.device).expand(-1, 1, t, -1).clone()
        # Within the block, position i sees block columns 0..i only.
        future = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
        allowed[..., s - t:] &= ~future
        probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        image = image_columns[:, None, None, :].to(probs.dtype).to(q.device)
        return (probs * image).sum(-1).mean(1).nan_to_num(0.0)


def image_columns(mask: torch.Tensor, visual_positions: Sequence[torch.Tensor | None]) -> torch.Tensor:
    """[B, S] bool: the cache columns that hold each row's visual tokens.

    A row's real columns (mask 1) start with its prompt, in order (left padding before it, rolled-back
    holes only after it), so the prompt's visual indices `visual_positions[r]` pick its columns."""
    out = torch.zeros(mask.shape, dtype=torch.bool)
    for r, visual in enumerate(visual_positions):
        if visual is None or not len(visual):
            continue
        real = torch.nonzero(mask[r].cpu()).squeeze(1)
        visual = visual[visual < len(real)]
        out[r, real[visual]] = True
    return out


class VisualAnchors:
    """The probe and its threshold: a drafted token whose visual share reaches it is an anchor."""

    def __init__(self, probe: VisualAttentionProbe, threshold: float, keep_shares: int = 100_000):
        self.probe = probe
        self.threshold = threshold
        self.checked: list[float] = []     # shares seen at anchor checks (the benchmark reports them)
        self._keep = keep_shares

    def shares(self, cache: Any, mask: torch.Tensor, visual_positions: Sequence[torch.Tensor | None]) -> torch.Tensor:
        keys = cache.layers[self.probe.layer].keys
        return self.probe.share(keys, mask, image_columns(mask, visual_positions)).float().cpu()

    def is_anchor(self, share: float) -> bool:
        if len(self.checked) < self._keep:
            self.checked.append(share)
        return share >= self.threshold
