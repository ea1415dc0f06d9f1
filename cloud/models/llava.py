"""LLaVA-style model adapter (LLaVA-1.5 geometry) with visual-token pruning before the LLM.

Wraps transformers' `LlavaForConditionalGeneration` (LLaVA-1.5 checkpoints, and
our SmolLM2-LLaVA benchmark model, cloud/models/smollm_llava.py). We run the
three stages ourselves instead of calling `model.generate`, because the pruner
must act between them and the kept tokens must keep their original position ids:
  1. vision tower (hidden states at `vision_feature_layer`, plus the [CLS] row of
     that layer's attention = the "cls" importance) -> projector -> (N, D) tokens;
  2. the pruner picks the kept tokens per image; text→visual attention is given to
     it lazily (one shallow LLM pass, cloud/prune/attention.py) and only computed
     if the pruner asks; `apply_pruning` drops the rest, positions unchanged;
  3. prefill the language model on the pruned sequence with explicit position ids,
     then decode greedily, continuing positions after the UNPRUNED length, as if
     the dropped tokens were still there (FastV's convention).
Several images per request (frames of one event) are pruned image by image with
one shared shallow pass. LLaVA-OneVision's anyres tiling is not handled here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from cloud.prune.attention import early_text_attention
from cloud.prune.base import PruneContext, PrunedInputs, TokenPruner, apply_pruning


@dataclass
class PrefillResult:
    logits: torch.Tensor           # (V,) next-token logits after the prompt
    cache: object                  # the LLM's KV cache
    next_position: int             # position id of the first generated token
    n_visual: int                  # visual tokens before pruning
    n_kept: int                    # visual tokens the LLM saw
    seq_len: int                   # sequence length the LLM prefilled
    timings: dict = field(default_factory=dict)  # seconds: vision, select, prefill


class LlavaAdapter:
    family = "llava"

    def __init__(self, model, tokenizer, image_processor, image_token: str = "<image>"):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.config = model.config
        self.image_token_id = self.config.image_token_index
        self.image_token = image_token
        self.tokens_per_image = self.config.image_seq_length
        self.grid = int(round(self.tokens_per_image ** 0.5))
        self.lm = model.model.language_model
        if self.config.vision_feature_select_strategy == "default":
            # [CLS] attention is read from the tower's attention weights, which only eager
            # attention returns; the tower is a few % of the cost, so we always run it eager.
            model.model.vision_tower.config._attn_implementation = "eager"

    # ---- prompt -----------------------------------------------------------------------------
    def build_prompt(self, question: str, n_images: int = 1, system: str | None = None) -> str:
        """Chat-template prompt with one <image> per frame before the question."""
        content = "\n".join([self.image_token] * n_images + [question])
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def tokenize(self, prompt: str) -> torch.Tensor:
        """Input ids with every <image> expanded to `tokens_per_image` image tokens."""
        expanded = prompt.replace(self.image_token, self.image_token * self.tokens_per_image)
        return self.tokenizer(expanded, return_tensors="pt", add_special_tokens=False).input_ids[0]

    def pixel_values(self, images: list[np.ndarray]) -> torch.Tensor:
        return self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]

    # ---- stage 1: vision --------------------------------------------------------------------
    @torch.no_grad()
    def encode_images(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(n_img, N, D) projected visual tokens and (n_img, N) [CLS] attention (None if no CLS)."""
        tower = self.model.model.vision_tower
        layer = self.config.vision_feature_layer
        want_cls = self.config.vision_feature_select_strategy == "default"
        out = tower(pixel_values.to(self.model.dtype), output_hidden_states=True, output_attentions=want_cls)
        feats = out.hidden_states[layer]
        cls_att = None
        if want_cls:
            feats = feats[:, 1:]
            if out.attentions is not None:
                # attentions[i] produces hidden_states[i + 1]; hidden_states[layer] comes from attentions[layer].
                att = out.attentions[layer if layer < 0 else layer - 1]
                cls_att = att[:, :, 0, 1:].mean(dim=1).float()
        return self.model.model.multi_modal_projector(feats), cls_att

    # ---- stage 2: pruning -------------------------------------------------------------------
    @torch.no_grad()
    def prune_inputs(self, input_ids: torch.Tensor, visual: torch.Tensor, cls_att: torch.Tensor | None,
                     pruner: TokenPruner | None, stream_id: str | None = None,
                     box_prior: list[torch.Tensor | None] | None = None) -> tuple[PrunedInputs, float]:
        """Embed, place the visual tokens, let the pruner choose; returns the pruned inputs and select seconds."""
        embeds = self.lm.embed_tokens(input_ids)[None].clone()
        visual_mask = input_ids == self.image_token_id
        n_img, n_tok, _ = visual.shape
        if int(visual_mask.sum()) != n_img * n_tok:
            raise ValueError(f"prompt has {int(visual_mask.sum())} image tokens for {n_img} images of {n_tok}")
        embeds[0, visual_mask] = visual.reshape(-1, visual.shape[-1]).to(embeds.dtype)
        positions = torch.arange(input_ids.shape[0])[None]
        t0 = time.perf_counter()
        if pruner is None or pruner.name == "none" or n_img == 0:
            kept = torch.arange(n_img * n_tok)
        else:
            shallow = _LazyShallowPass(self, embeds, positions, input_ids, visual_mask, pruner.config.importance_layer,
                                       pruner.config.text_query)
            parts = []
            for i in range(n_img):
                ctx = PruneContext(
                    visual_embeds=visual[i],
                    text_ids=input_ids[~visual_mask],
                    text_attention=shallow.attention_for(i, n_tok),
                    cls_attention=cls_att[i] if cls_att is not None else None,
                    keys=shallow.keys_for(i, n_tok) if pruner.config.similarity == "keys" else None,
                    box_prior=box_prior[i] if box_prior else None,
                    stream_id=f"{stream_id}#{i}" if stream_id is not None and n_img > 1 else stream_id,
                )
                parts.append(pruner.select(ctx) + i * n_tok)
            kept = torch.cat(parts)
        select_s = time.perf_counter() - t0
        return apply_pruning(embeds, positions, None, visual_mask[None], kept), select_s

    # ---- stage 3: language model ------------------------------------------------------------
    @torch.no_grad()
    def prefill(self, images: list[np.ndarray], prompt: str, pruner: TokenPruner | None = None,
                stream_id: str | None = None, box_prior: list[torch.Tensor | None] | None = None) -> PrefillResult:
        from transformers import DynamicCache

        t0 = time.perf_counter()
        input_ids = self.tokenize(prompt)
        if images:
            visual, cls_att = self.encode_images(self.pixel_values(images))
        else:  # text-only request
            visual, cls_att = torch.zeros(0, self.tokens_per_image, self.lm.config.hidden_size), None
        t1 = time.perf_counter()
        pruned, select_s = self.prune_inputs(input_ids, visual, cls_att, pruner, stream_id, box_prior)
        t2 = time.perf_counter()
        cache = DynamicCache(config=self.config.text_config)
        hidden = self.lm(inputs_embeds=pruned.inputs_embeds, position_ids=pruned.position_ids,
                         cache=cache, use_cache=True).last_hidden_state
        logits = self.model.lm_head(hidden[:, -1])[0]
        t3 = time.perf_counter()
        n_visual = visual.shape[0] * visual.shape[1]
        n_kept = int(pruned.keep_mask.sum()) - int((input_ids != self.image_token_id).sum())
        return PrefillResult(logits, cache, int(pruned.next_position[0]), n_visual, n_kept,
                             pruned.inputs_embeds.shape[1],
                             {"vision": t1 - t0, "select": select_s, "prefill": t3 - t2})

    @torch.no_grad()
    def decode_step(self, token_id: int, position: int, cache) -> torch.Tensor:
        emb = self.lm.embed_tokens(torch.tensor([[token_id]]))
        hidden = self.lm(inputs_embeds=emb, position_ids=torch.tensor([[position]]), cache=cache,
                         use_cache=True).last_hidden_state
        return self.model.lm_head(hidden[:, -1])[0]

    @torch.no_grad()
    def generate(self, images: list[np.ndarray], prompt: str, max_new_tokens: int = 32,
                 pruner: TokenPruner | None = None, logits_processor=None, **prefill_kw) -> tuple[list[int], PrefillResult]:
        """Greedy decoding; `logits_processor(generated_ids, logits) -> logits` may constrain it."""
        pre = self.prefill(images, prompt, pruner, **prefill_kw)
        logits, pos, out = pre.logits, pre.next_position, []
        eos = self.tokenizer.eos_token_id
        for _ in range(max_new_tokens):
            if logits_processor is not None:
                logits = logits_processor(out, logits)
            tok = int(torch.argmax(logits))
            out.append(tok)
            if tok == eos:
                break
            logits = self.decode_step(tok, pos, pre.cache)
            pos += 1
        return out, pre


class _LazyShallowPass:
    """One shallow LLM pass per request, run only if some pruner asks for text attention or keys."""

    def __init__(self, adapter: LlavaAdapter, embeds, positions, input_ids, visual_mask, layer: int, query: str):
        self.adapter, self.embeds, self.positions = adapter, embeds, positions
        self.visual_pos = torch.nonzero(visual_mask).squeeze(-1)
        text_pos = torch.nonzero(~visual_mask).squeeze(-1)
        after = text_pos[text_pos > self.visual_pos.max()] if len(self.visual_pos) else text_pos
        # "last": the final prompt token (the one that starts the answer); "all": every text
        # token after the images (tokens before them cannot attend to the images).
        self.query_pos = after[-1:] if query == "last" else after
        self.layer = layer
        self._result = None

    def _run(self):
        if self._result is None:
            self._result = early_text_attention(self.adapter.lm, self.embeds, self.positions, self.query_pos,
                                                self.visual_pos, self.layer)
        return self._result

    def attention_for(self, i: int, n_tok: int):
        return lambda: self._run().text_to_visual[i * n_tok:(i + 1) * n_tok]

    def keys_for(self, i: int, n_tok: int) -> torch.Tensor:
        return self._run().visual_keys[i * n_tok:(i + 1) * n_tok]


TINY_CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                      "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def build_tiny_llava(seed: int = 0, image_size: int = 56, patch_size: int = 14, text_layers: int = 3):
    """Random-init LLaVA (Llama text, CLIP vision with [CLS]) + byte-level tokenizer, for code-path tests."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, PreTrainedTokenizerFast)

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bpe = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(sorted(alphabet))}, merges=[]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    bpe.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|end|>", pad_token="<|pad|>")
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = TINY_CHAT_TEMPLATE
    text = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=text_layers,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision = CLIPVisionConfig(image_size=image_size, patch_size=patch_size, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=2)
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
