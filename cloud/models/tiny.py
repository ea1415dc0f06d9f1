"""Tiny random-init vision-language models built from configs in code (offline).

No real VLM can be downloaded on this machine, so the Qwen code paths are
exercised on models with the real architectures and random weights: a
64-wide, 2-layer text model (mrope_section summing to head_dim/2) and a
2-block vision tower (the smallest shapes transformers' configs accept). The tokenizer is a byte-level BPE with no
merges (one token per byte) plus the Qwen chat and vision special tokens, so
xgrammar sees an ordinary byte-level vocabulary.

These models answer with noise; they exist to test code paths and to give the
engine an offline default, never to describe anything.
"""
from __future__ import annotations

import torch

# Qwen's special tokens, in the order the real tokenizer lists them.
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]
TINY_HIDDEN = 64
TINY_HEADS = 4          # head_dim 16 -> mrope_section [2, 3, 3] sums to 8 = head_dim / 2
TINY_LAYERS = 2
TINY_VISION_DEPTH = 2


def byte_level_tokenizer(eos: str = "<|im_end|>", pad: str = "<|endoftext|>",
                         special: tuple[str, ...] = tuple(QWEN_SPECIAL_TOKENS[1:])):
    """A PreTrainedTokenizerFast with 256 byte tokens + `special` tokens (Qwen's by default)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad)
    fast.add_special_tokens({"additional_special_tokens": list(special)})
    return fast


def _ids(tokenizer) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}


def _text_kwargs(tokenizer) -> dict:
    ids = _ids(tokenizer)
    return dict(
        vocab_size=len(tokenizer), hidden_size=TINY_HIDDEN, intermediate_size=128,
        num_hidden_layers=TINY_LAYERS, num_attention_heads=TINY_HEADS, num_key_value_heads=2,
        max_position_embeddings=4096, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                       "mrope_section": [2, 3, 3]},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )


def tiny_qwen2_5_vl(seed: int = 0, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) for a random Qwen2.5-VL with the real architecture."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = byte_level_tokenizer()
    ids = _ids(tokenizer)
    cfg = Qwen2_5_VLConfig(
        text_config=_text_kwargs(tokenizer),
        vision_config=dict(depth=TINY_VISION_DEPTH, hidden_size=32, intermediate_size=64,
                           num_heads=2, out_hidden_size=TINY_HIDDEN, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1]),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg).to(dtype).eval()
    return model, tokenizer


def tiny_qwen2_vl(seed: int = 0, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) for a random Qwen2-VL with the real architecture."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    tokenizer = byte_level_tokenizer()
    ids = _ids(tokenizer)
    cfg = Qwen2VLConfig(
        text_config=_text_kwargs(tokenizer),
        vision_config=dict(depth=TINY_VISION_DEPTH, embed_dim=32, hidden_size=TINY_HIDDEN,
                           mlp_ratio=2, num_heads=2, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(cfg).to(dtype).eval()
    return model, tokenizer


# A chat template for the tiny LLaVA's tokenizer (LLaVA checkpoints ship their own).
TINY_CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                      "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def tiny_llava(seed: int = 0, image_size: int = 56, patch_size: int = 14, text_layers: int = 3):
    """(model, tokenizer, image_processor) for a random LLaVA-1.5 (Llama text, CLIP vision with [CLS])."""
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration)

    tok = byte_level_tokenizer(eos="<|end|>", pad="<|pad|>", special=("<image>",))
    tok.chat_template = TINY_CHAT_TEMPLATE
    text = LlamaConfig(vocab_size=len(tok), hidden_size=TINY_HIDDEN, intermediate_size=128,
                       num_hidden_layers=text_layers, num_attention_heads=TINY_HEADS, num_key_value_heads=2,
                       max_position_embeddings=4096, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision = CLIPVisionConfig(image_size=image_size, patch_size=patch_size, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=TINY_VISION_DEPTH, num_attention_heads=2)
    vision._attn_implementation = "eager"
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                      vision_feature_layer=-2, vision_feature_select_strategy="default",
                      image_seq_length=(image_size // patch_size) ** 2)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    proc = CLIPImageProcessor(size={"height": image_size, "width": image_size}, do_center_crop=False,
                              crop_size={"height": image_size, "width": image_size})
    return model, tok, proc
