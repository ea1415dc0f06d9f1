"""Qwen2-VL adapter (and the shared Qwen-VL code path Qwen2.5-VL reuses).

Prompt layout (ChatML, as Qwen's chat template writes it, built by hand so a
tokenizer without a template works too):
  <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n
  (<|vision_start|><|image_pad|>*n<|vision_end|>) per image {prompt}<|im_end|>\n
  <|im_start|>assistant\n
Positions are Qwen's 3-D M-RoPE ids from the model's own `get_rope_index`
(needs `mm_token_type_ids`: without them transformers 5.24's forward falls back
to 1-D text positions with only a warning). Several images of one event are several vision blocks; they are
not merged into a video (the frames of an event are seconds apart).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from cloud.models.base import ModelAdapter, PrefillInputs, PreparedInputs
from cloud.models.registry import register

MM_TEXT, MM_IMAGE = 0, 1   # mm_token_type_ids values (2 would be video)
# Qwen-VL sees 28x28-pixel cells (14 px patches merged 2x2) per visual token.
QWEN_CELL = 28


class QwenVLAdapter(ModelAdapter):
    family: ClassVar[str] = "qwen2_vl"
    position_rows: ClassVar[int] = 3
    model_class_name: ClassVar[str] = "Qwen2VLForConditionalGeneration"
    tiny_builder_name: ClassVar[str] = "tiny_qwen2_vl"     # in cloud/models/tiny.py

    def __init__(self, model, tokenizer, image_processor=None, *, image_max_side: int = 448):
        super().__init__(model, tokenizer, image_max_side=image_max_side)
        if image_processor is None:
            from transformers import Qwen2VLImageProcessor
            image_processor = Qwen2VLImageProcessor(
                min_pixels=QWEN_CELL * QWEN_CELL * 4, max_pixels=image_max_side * image_max_side)
        self.image_processor = image_processor
        self.image_token = "<|image_pad|>"
        self.image_token_id = int(model.config.image_token_id)
        self.merge = int(model.config.vision_config.spatial_merge_size)

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, *, dtype: torch.dtype, device: str,
                        image_max_side: int = 448) -> "QwenVLAdapter":
        import transformers
        from transformers import AutoProcessor
        model_cls = getattr(transformers, cls.model_class_name)
        processor = AutoProcessor.from_pretrained(str(path))
        model = model_cls.from_pretrained(str(path), dtype=dtype).to(device).eval()
        return cls(model, processor.tokenizer, image_max_side=image_max_side)

    @classmethod
    def tiny(cls, *, dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0,
             image_max_side: int = 448) -> "QwenVLAdapter":
        from cloud.models import tiny
        model, tok = getattr(tiny, cls.tiny_builder_name)(seed=seed, dtype=dtype)
        return cls(model.to(device), tok, image_max_side=image_max_side)

    # -- prepare -----------------------------------------------------------------------------
    def prepare(self, images: list[np.ndarray], prompt: str, system: str) -> PreparedInputs:
        fitted = [self.fit_image(img) for img in images]
        pix = self.image_processor(images=fitted, return_tensors="pt")
        grid = pix["image_grid_thw"]
        per_image = (grid.prod(-1) // (self.merge ** 2)).tolist()
        vision = "".join(f"<|vision_start|>{self.image_token * n}<|vision_end|>" for n in per_image)
        text = (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{vision}{prompt}"
                f"<|im_end|>\n<|im_start|>assistant\n")
        ids = torch.tensor(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        n_visual = int((ids == self.image_token_id).sum())
        if n_visual != sum(per_image):
            raise ValueError(f"tokenizer split the image placeholders: {n_visual} != {sum(per_image)}")
        return PreparedInputs(
            input_ids=ids, model_inputs={"pixel_values": pix["pixel_values"], "image_grid_thw": grid},
            n_visual=n_visual, image_sizes=[im.shape[:2] for im in fitted],
            source_sizes=[im.shape[:2] for im in images])

    def token_grids(self, prepared: PreparedInputs) -> list[tuple[int, int]]:
        grid = prepared.model_inputs["image_grid_thw"]
        return [(int(h) // self.merge, int(w) // self.merge) for _, h, w in grid.tolist()]

    # -- embed -------------------------------------------------------------------------------
    @torch.inference_mode()
    def embed(self, prepared: PreparedInputs) -> PrefillInputs:
        core = self.model.model
        ids = prepared.input_ids.unsqueeze(0).to(self.device)
        grid = prepared.model_inputs["image_grid_thw"].to(self.device)
        pixels = prepared.model_inputs["pixel_values"].to(self.device, self.dtype)
        embeds = self.embed_tokens(ids)
        image_embeds = torch.cat(core.get_image_features(pixels, grid, return_dict=True).pooler_output)
        visual = ids == self.image_token_id
        embeds = embeds.masked_scatter(visual.unsqueeze(-1), image_embeds.to(embeds.dtype))
        attention = torch.ones_like(ids)
        mm_types = torch.where(visual, MM_IMAGE, MM_TEXT).to(torch.int32)
        positions, _ = core.get_rope_index(ids, mm_token_type_ids=mm_types, image_grid_thw=grid,
                                           attention_mask=attention)
        positions = positions[-3:]  # some versions prepend 1-D text positions
        return PrefillInputs(inputs_embeds=embeds, position_ids=positions.long(),
                             visual_token_mask=visual, attention_mask=attention, input_ids=ids)

    # -- forward -----------------------------------------------------------------------------
    @torch.inference_mode()
    def forward(self, inputs_embeds, position_ids, attention_mask, cache, last: int = 1) -> torch.Tensor:
        out = self.run_language_model(cache, inputs_embeds=inputs_embeds, position_ids=position_ids,
                                      attention_mask=attention_mask)
        return self._head(out.last_hidden_state, last)


register("qwen2_vl", ("qwen2_vl",))(QwenVLAdapter)
