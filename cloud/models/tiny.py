"""Tiny random-init vision-language models built from configs in code (offline).

No real VLM can be downloaded on this machine, so the Qwen code paths are
exercised on models with the real architectures and random weights: a
64-wide, 2-layer text model (mrope_section summing to head_dim/2) and a
2-block vision tower (FACTS.md). The tokenizer is a byte-level BPE with no
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


def byte_level_tokenizer():
    """A PreTrainedTokenizerFast with 256 byte tokens + Qwen special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.add_special_tokens({"additional_special_tokens": QWEN_SPECIAL_TOKENS[1:]})
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
