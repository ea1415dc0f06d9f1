"""The attention function KV presses install, and the attention it captures.

transformers lets a model use any attention function registered under a name
(`AttentionInterface`, with a matching mask builder in `AttentionMaskInterface`). We
register one, "vigil_kv", and set it on the language model's config only; the vision
tower keeps its own. It does two things:
- when the cache handed it a `RaggedView` (cloud/kvcache/ragged.py) instead of tensors,
  it runs the ragged attention over the heads' kept tokens (a decode step after a press);
- otherwise it calls the attention the model used before (sdpa or eager), unchanged,
  and, if an `AttentionCapture` is attached, records from the same query/key tensors:
  at prefill, the attention of the last `window` queries to every key (the text prior of
  HybridKV, the observation window of SnapKV); at decode steps, when profiling asks, the
  attention of the new token to every key. Scores are averaged over each KV head's query
  group (GQA), as kvpress does, because the KV head is what a cache keeps or drops.
Written against transformers 5.24 (attention modules call `cache.update` and pass the
result straight to the attention function; tests/cloud/kvcache check it still holds).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import torch

from cloud.kvcache.ragged import RaggedView

ATTENTION_NAME = "vigil_kv"
CAPTURE_ATTR = "_vigil_kv_capture"
BASE_ATTR = "_vigil_kv_base"


@dataclass
class AttentionCapture:
    window: int = 32                      # prefill queries recorded (the prompt's last tokens)
    record_decode: bool = False           # profiling: record each decode step too
    prefill: dict[int, torch.Tensor] = field(default_factory=dict)     # layer -> [B, Hkv, W, T]
    decode: list[dict[int, torch.Tensor]] = field(default_factory=list)  # step -> layer -> [B, Hkv, T]

    def clear(self) -> None:
        self.prefill.clear()
        self.decode.clear()

    def record(self, layer: int, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None,
               scaling: float) -> None:
        b, hq, n_q, d = query.shape
        n_kv, n_k = key.shape[1], key.shape[2]
        if n_q == 1 and not self.record_decode:
            return
        w = n_q if n_q == 1 else min(self.window, n_q)
        q = query[:, :, -w:].float().reshape(b, n_kv, hq // n_kv, w, d)
        scores = torch.einsum("bhgwd,bhtd->bhgwt", q, key.float()) * scaling
        allowed = _allowed(mask, b, w, n_k, query.device)
        probs = torch.softmax(scores.masked_fill(~allowed[:, :, None], float("-inf")), dim=-1).mean(2)
        if n_q == 1:
            if not self.decode or layer in self.decode[-1]:
                self.decode.append({})
            self.decode[-1][layer] = probs[:, :, 0]
        else:
            self.prefill[layer] = probs


def _allowed(mask: torch.Tensor | None, b: int, w: int, n_k: int, device) -> torch.Tensor:
    """[B, 1, W, T] bool: which keys the last `w` queries may see."""
    if mask is not None:
        m = mask[:, :, -w:, -n_k:]
        return m if m.dtype == torch.bool else m == 0
    col = torch.arange(n_k, device=device)
    limit = n_k - w + torch.arange(w, device=device)
    return (col[None, :] <= limit[:, None])[None, None].expand(b, 1, w, n_k)


def kv_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    scaling = module.scaling if scaling is None else scaling
    if isinstance(key, RaggedView):
        out = key.layer.attend(query, scaling)
        return out.transpose(1, 2).contiguous(), None
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.llama.modeling_llama import eager_attention_forward

    base = getattr(module, BASE_ATTR, "sdpa")
    fn = eager_attention_forward if base == "eager" else ALL_ATTENTION_FUNCTIONS[base]
    out = fn(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    capture = getattr(module, CAPTURE_ATTR, None)
    if capture is not None:
        capture.record(module.layer_idx, query, key, attention_mask, scaling)
    return out


def _register() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, kv_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)


def attention_modules(language_model: torch.nn.Module) -> list[torch.nn.Module]:
    return [layer.self_attn for layer in language_model.layers]


def install(language_model: torch.nn.Module, capture: AttentionCapture | None = None) -> AttentionCapture | None:
    """Route `language_model`'s attention through `kv_attention`; return the capture it fills
    (None: record nothing, only decode through ragged caches).

    Idempotent: a second install on the same model replaces the capture.
    """
    _register()
    config = language_model.config
    base = config._attn_implementation
    for module in attention_modules(language_model):
        if not hasattr(module, BASE_ATTR):
            setattr(module, BASE_ATTR, base if base != ATTENTION_NAME else "sdpa")
        setattr(module, CAPTURE_ATTR, capture)
    config._attn_implementation = ATTENTION_NAME
    return capture
