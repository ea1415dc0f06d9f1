"""LLaVA-1.5-style adapter: `LlavaForConditionalGeneration` behind `ModelAdapter`.

Serves LLaVA-1.5 checkpoints and our SmolLM2-LLaVA benchmark model
(cloud/models/smollm_llava.py) through the same three calls as every family:
  - prepare: the chat template with one `<image>` per frame expanded to the
    fixed `image_seq_length` tokens, and CLIP pixels;
  - embed: vision tower (hidden states at `vision_feature_layer`; with the
    "default" strategy the [CLS] row of that layer's attention is the "cls"
    importance the pruners read) -> projector -> visual embeddings scattered
    over the image tokens; positions are 1-D (P = 1);
  - forward: the decoder stack with explicit positions and cache, then lm_head.
Pruning, the shallow text-attention pass and decoding are the shared ones
(cloud/models/base.py, cloud/engine/). LLaVA-OneVision/NeXT anyres tiling
(a variable token count per image) is not handled here; the registry refuses it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from cloud.answer.prompting import FixedPrompt
from cloud.models.base import ModelAdapter, PrefillInputs, PreparedInputs
from cloud.models.registry import register

IMAGE_TOKEN = "<image>"


class LlavaAdapter(ModelAdapter):
    family: ClassVar[str] = "llava"
    position_rows: ClassVar[int] = 1

    def __init__(self, model, tokenizer, image_processor, *, image_max_side: int = 448,
                 image_token: str = IMAGE_TOKEN, fixed_prompt: FixedPrompt | None = None,
                 writes_narrative: bool = True):
        super().__init__(model.eval(), tokenizer, image_max_side=image_max_side, fixed_prompt=fixed_prompt,
                         writes_narrative=writes_narrative)
        self.image_processor = image_processor
        self.config = model.config
        self.image_token = image_token
        self.image_token_id = self.config.image_token_index
        self.tokens_per_image = self.config.image_seq_length
        self.grid = int(round(self.tokens_per_image ** 0.5))
        if self.config.vision_feature_select_strategy == "default":
            # [CLS] attention is read from the tower's attention weights, which only eager
            # attention returns; the tower is a few % of the cost, so we always run it eager.
            model.model.vision_tower.config._attn_implementation = "eager"

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, *, dtype: torch.dtype, device: str,
                        image_max_side: int = 448) -> "LlavaAdapter":
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        processor = AutoProcessor.from_pretrained(str(path))
        model = LlavaForConditionalGeneration.from_pretrained(str(path), dtype=dtype).to(device)
        return cls(model, processor.tokenizer, processor.image_processor, image_max_side=image_max_side)

    @classmethod
    def tiny(cls, *, dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0,
             image_max_side: int = 448) -> "LlavaAdapter":
        from cloud.models.tiny import tiny_llava

        model, tok, proc = tiny_llava(seed=seed)
        return cls(model.to(device, dtype), tok, proc, image_max_side=image_max_side)

    # -- facts -------------------------------------------------------------------------------
    def new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.config.text_config)

    # -- prepare -----------------------------------------------------------------------------
    def build_prompt(self, question: str, n_images: int = 1, system: str | None = None) -> str:
        """Chat-template prompt with one <image> per frame before the question (no system turn if empty)."""
        content = "\n".join([self.image_token] * n_images + [question])
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def tokenize(self, prompt: str) -> torch.Tensor:
        """Input ids with every <image> expanded to `tokens_per_image` image tokens."""
        expanded = prompt.replace(self.image_token, self.image_token * self.tokens_per_image)
        return self.tokenizer(expanded, return_tensors="pt", add_special_tokens=False).input_ids[0]

    def pixel_values(self, images: list[np.ndarray]) -> torch.Tensor:
        return self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]

    def prepare(self, images: list[np.ndarray], prompt: str, system: str) -> PreparedInputs:
        fitted = [self.fit_image(im) for im in images]
        ids = self.tokenize(self.build_prompt(prompt, len(fitted), system))
        pixels = self.pixel_values(fitted) if fitted else None
        return PreparedInputs(
            input_ids=ids, model_inputs={"pixel_values": pixels},
            n_visual=int((ids == self.image_token_id).sum()),
            image_sizes=[im.shape[:2] for im in fitted],
            source_sizes=[im.shape[:2] for im in images])

    def token_grids(self, prepared: PreparedInputs) -> list[tuple[int, int]]:
        pixels = prepared.model_inputs["pixel_values"]
        return [] if pixels is None else [(self.grid, self.grid)] * int(pixels.shape[0])

    # -- embed -------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(n_img, N, D) projected visual tokens and (n_img, N) [CLS] attention (None if no CLS)."""
        tower = self.model.model.vision_tower
        layer = self.config.vision_feature_layer
        want_cls = self.config.vision_feature_select_strategy == "default"
        out = tower(pixel_values.to(self.device, self.dtype), output_hidden_states=True,
                    output_attentions=want_cls)
        feats = out.hidden_states[layer]
        cls_att = None
        if want_cls:
            feats = feats[:, 1:]
            if out.attentions is not None:
                # attentions[i] produces hidden_states[i + 1]; hidden_states[layer] comes from attentions[layer].
                att = out.attentions[layer if layer < 0 else layer - 1]
                cls_att = att[:, :, 0, 1:].mean(dim=1).float()
        return self.model.model.multi_modal_projector(feats), cls_att

    @torch.inference_mode()
    def embed(self, prepared: PreparedInputs) -> PrefillInputs:
        ids = prepared.input_ids.unsqueeze(0).to(self.device)
        embeds = self.embed_tokens(ids).clone()
        mask = ids == self.image_token_id
        cls = None
        pixels = prepared.model_inputs["pixel_values"]
        if pixels is not None:
            visual, cls = self.encode_images(pixels)
            if int(mask.sum()) != visual.shape[0] * visual.shape[1]:
                raise ValueError(f"prompt has {int(mask.sum())} image tokens for {visual.shape[0]} images "
                                 f"of {visual.shape[1]}")
            embeds[mask] = visual.reshape(-1, visual.shape[-1]).to(embeds.dtype)
        positions = torch.arange(ids.shape[1], device=ids.device).view(1, 1, -1)
        return PrefillInputs(inputs_embeds=embeds, position_ids=positions, visual_token_mask=mask,
                             attention_mask=torch.ones_like(ids), input_ids=ids,
                             cls_attention=None if cls is None else cls.reshape(-1))

    # -- forward -----------------------------------------------------------------------------
    @torch.inference_mode()
    def forward(self, inputs_embeds, position_ids, attention_mask, cache, last: int = 1) -> torch.Tensor:
        out = self.run_language_model(cache, inputs_embeds=inputs_embeds, position_ids=position_ids[0],
                                      attention_mask=attention_mask)
        return self._head(out.last_hidden_state, last)


register("llava", ("llava",))(LlavaAdapter)
