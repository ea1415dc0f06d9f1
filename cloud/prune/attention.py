"""Text→visual attention at an early LLM layer, from a shallow pass (ID-Selection / FastV importance).

The importance signal is the attention the instruction pays to each visual
token at layer `layer` (ID-Selection and FastV both use layer 2). We get it
without patching the model: a forward pre-hook on that layer's attention module
reads the (already normalised) hidden states and rotary cos/sin the layer is
called with, computes softmax(q·kᵀ/√d) for the query rows only, and stops the
forward pass with an exception, so layers above `layer` and the layer's own
value/output projections and MLP are never run. Works for any transformers
decoder whose attention has q_proj/k_proj and takes `position_embeddings`
(Llama/SmolLM2, Qwen2, Qwen2.5-VL text; checked against transformers 5.24,
where Qwen2.5-VL's M-RoPE sections are already folded into cos/sin).
The same pass gives that layer's keys of the visual tokens, usable as the
similarity features of ID-Selection (`similarity="keys"`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb


class _Stop(Exception):
    pass


@dataclass
class EarlyAttention:
    text_to_visual: torch.Tensor  # (N_vis,) mean over heads (and queries if several)
    visual_keys: torch.Tensor     # (N_vis, kv_heads * head_dim) post-RoPE keys at that layer


@torch.no_grad()
def early_text_attention(language_model, inputs_embeds: torch.Tensor, position_ids: torch.Tensor,
                         query_positions: torch.Tensor, visual_positions: torch.Tensor,
                         layer: int) -> EarlyAttention:
    """Shallow pass over one sequence (batch 1): attention of `query_positions` to `visual_positions`.

    language_model: the decoder stack (has `.layers`), e.g. LlavaModel.language_model.
    position_ids: whatever the model takes (1×L, or 3×1×L for M-RoPE).
    """
    layers = language_model.layers
    if not 0 <= layer < len(layers):
        raise ValueError(f"importance layer {layer} outside the model's {len(layers)} layers")
    attn = layers[layer].self_attn
    captured: dict = {}

    def hook(module, args, kwargs):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        captured["hidden"] = hidden
        captured["cos_sin"] = kwargs["position_embeddings"]
        raise _Stop

    handle = attn.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        language_model(inputs_embeds=inputs_embeds, position_ids=position_ids, use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "hidden" not in captured:
        raise RuntimeError("the attention hook did not fire; unsupported model layout")

    hidden = captured["hidden"][0]  # (L, D)
    cos, sin = captured["cos_sin"]
    cos, sin = cos[0], sin[0]  # (L, head_dim)
    head_dim = attn.head_dim
    n_heads = attn.config.num_attention_heads
    n_kv = attn.config.num_key_value_heads
    q_pos = query_positions.to(hidden.device)
    q = attn.q_proj(hidden[q_pos]).view(len(q_pos), n_heads, head_dim).transpose(0, 1)
    k = attn.k_proj(hidden).view(hidden.shape[0], n_kv, head_dim).transpose(0, 1)
    if getattr(attn, "q_norm", None) is not None:  # Qwen3-style per-head norms
        q, k = attn.q_norm(q), attn.k_norm(k)
    q, _ = apply_rotary_pos_emb(q, q, cos[q_pos], sin[q_pos], unsqueeze_dim=0)
    _, k = apply_rotary_pos_emb(k, k, cos, sin, unsqueeze_dim=0)
    k_rep = k.repeat_interleave(n_heads // n_kv, dim=0)  # GQA
    scores = (q @ k_rep.transpose(1, 2)) * attn.scaling  # (H, nq, L)
    causal = torch.arange(hidden.shape[0], device=hidden.device)[None, :] > q_pos[:, None]
    probs = torch.softmax(scores.float().masked_fill(causal, float("-inf")), dim=-1)
    vis = visual_positions.to(hidden.device)
    text_to_visual = probs[:, :, vis].mean(dim=(0, 1))
    visual_keys = k[:, vis].transpose(0, 1).reshape(len(vis), n_kv * head_dim)
    return EarlyAttention(text_to_visual, visual_keys)
