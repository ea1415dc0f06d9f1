"""ModelAdapter: the one small interface between the engine and a VLM family.

An adapter turns (images, prompt) into token ids and pixels (`prepare`, CPU,
any thread), runs the vision tower and projector and scatters the visual
embeddings into the text embeddings (`embed`), and runs the language model on
embeddings with explicit position ids and an explicit cache (`forward`).

Pruning sits between `embed` and the first `forward` and is applied outside the
adapter (cloud/engine/pruning.py), from the facts it gives: `embed` returns a
`PrefillInputs` (inputs_embeds, position_ids, visual_token_mask, attention_mask),
`token_grids` each image's token grid, `language_model` the decoder stack for
early-layer attention, `position_rows` the rows of the position ids.
`PrefillInputs.keep_visual` gathers the kept tokens, keeping the original order
and the original position ids (M-RoPE rows included), so the kept tokens sit
where they sat in the image.

Position ids always have shape [P, B, L]: P = 3 for M-RoPE (temporal, height,
width; Qwen2-VL / Qwen2.5-VL), P = 1 for 1-D RoPE (LLaVA). A decoded token's
position is (largest position so far) + 1 in every row of P, which is what
Qwen's rope_deltas compute and stays right after pruning.
"""
from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import torch

from cloud.answer.prompting import FixedPrompt

CHATML_END_OF_TURN = "<|im_end|>"   # Qwen's and SmolLM2's chat templates end a turn with it


def cache_keyword(module: torch.nn.Module) -> str:
    """The keyword `module.forward` takes its KV cache by: `cache` in recent transformers,
    `past_key_values` before the rename (5.17 on a GPU image, for one). Passing the other one is
    silently swallowed by the forward's **kwargs, and the model then runs every step without its
    cache: decoding turns to garbage with no error (seen on a GPU machine)."""
    return _cache_keyword_of(type(module))


@functools.cache
def _cache_keyword_of(cls: type) -> str:
    params = inspect.signature(cls.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


@dataclass
class PreparedInputs:
    """CPU tensors for one request, built off the model thread."""

    input_ids: torch.Tensor          # [L] long
    model_inputs: dict[str, Any]     # family-specific: pixel_values, image_grid_thw, ...
    n_visual: int                    # visual tokens in input_ids
    image_sizes: list[tuple[int, int]] = field(default_factory=list)   # (H, W) the model saw
    source_sizes: list[tuple[int, int]] = field(default_factory=list)  # (H, W) as received


@dataclass
class PrefillInputs:
    """One request's prompt as the language model will see it (batch dim 1)."""

    inputs_embeds: torch.Tensor      # [1, L, D]
    position_ids: torch.Tensor       # [P, 1, L] long
    visual_token_mask: torch.Tensor  # [1, L] bool
    attention_mask: torch.Tensor     # [1, L] long (all ones before batching)
    input_ids: torch.Tensor          # [1, L] long (image placeholder ids at visual slots)
    # Vision-encoder [CLS] attention over the visual tokens, where the model has a [CLS].
    cls_attention: torch.Tensor | None = None   # [n_visual]

    @property
    def length(self) -> int:
        return int(self.inputs_embeds.shape[1])

    @property
    def n_visual(self) -> int:
        return int(self.visual_token_mask.sum())

    def keep_visual(self, kept: torch.Tensor) -> "PrefillInputs":
        """Every text token and the visual tokens at indices `kept` (0 = the prompt's first visual token)."""
        mask = self.visual_token_mask[0]
        visual_pos = torch.nonzero(mask).squeeze(1)
        text_pos = torch.nonzero(~mask).squeeze(1)
        return self.select(torch.cat([text_pos, visual_pos[kept.to(visual_pos.device)]]))

    def select(self, keep: torch.Tensor) -> "PrefillInputs":
        """Keep sequence positions `keep` (sorted, so order is preserved)."""
        keep = torch.sort(keep.to(self.inputs_embeds.device)).values
        cls = self.cls_attention
        if cls is not None:
            visual_positions = torch.nonzero(self.visual_token_mask[0]).squeeze(1)
            kept_visual = torch.isin(visual_positions, keep)
            cls = cls[kept_visual]
        return replace(
            self,
            inputs_embeds=self.inputs_embeds[:, keep],
            position_ids=self.position_ids[..., keep],
            visual_token_mask=self.visual_token_mask[:, keep],
            attention_mask=self.attention_mask[:, keep],
            input_ids=self.input_ids[:, keep],
            cls_attention=cls,
        )


class ModelAdapter(ABC):
    """A loaded VLM behind the calls the engine and the pruners need."""

    family: ClassVar[str]
    position_rows: ClassVar[int] = 1        # P in position_ids [P, B, L]

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, image_max_side: int = 448,
                 fixed_prompt: FixedPrompt | None = None, writes_narrative: bool = True):
        self.model = model
        self.tokenizer = tokenizer
        self.image_max_side = image_max_side
        # A model trained to answer one question is asked that question (cloud/answer/prompting.py
        # builds it; `prepare` tokenizes what it is given).
        self.fixed_prompt = fixed_prompt
        # Whether the grammar makes this model write the alert's narrative (cloud/answer/schema.py).
        # A model trained on the compact answer without it declares False; its alert's narrative is
        # then composed from its fields (cloud/answer/narrative.py).
        self.writes_narrative = writes_narrative

    # -- facts -------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def stop_token_ids(self) -> list[int]:
        """EOS and ChatML's end of turn, where the tokenizer knows them."""
        tok = self.tokenizer
        ids = {tok.eos_token_id, tok.convert_tokens_to_ids(CHATML_END_OF_TURN)}
        return sorted(i for i in ids if i is not None and i >= 0 and i != tok.unk_token_id)

    @property
    def language_model(self) -> torch.nn.Module:
        """The decoder stack (for pruners that read early-layer attention); transformers' VLMs keep it here."""
        return self.model.model.language_model

    def run_language_model(self, cache: Any, **inputs: Any) -> Any:
        """The decoder stack over `inputs` with the KV `cache` (use_cache on), whatever the keyword
        this transformers release takes it by (see `cache_keyword`)."""
        lm = self.language_model
        return lm(**inputs, **{cache_keyword(lm): cache}, use_cache=True)

    # -- the three calls ---------------------------------------------------------------------
    @abstractmethod
    def prepare(self, images: list[np.ndarray], prompt: str, system: str) -> PreparedInputs:
        """Token ids and pixels for RGB uint8 `images` followed by `prompt` (thread-safe, CPU)."""

    @abstractmethod
    def embed(self, prepared: PreparedInputs) -> PrefillInputs:
        """Vision tower + projector, visual embeddings scattered into the prompt, positions."""

    @abstractmethod
    def forward(self, inputs_embeds: torch.Tensor, position_ids: torch.Tensor,
                attention_mask: torch.Tensor, cache: Any, last: int = 1) -> torch.Tensor:
        """Run the LM on [B, T, D] embeddings with [P, B, T] positions and a [B, past+T]
        mask, appending to `cache`; return the logits of the last position, [B, V], or
        of the last `last` positions, [B, last, V] (a speculative verifier scores k
        drafted tokens in one pass)."""

    def _head(self, hidden: torch.Tensor, last: int) -> torch.Tensor:
        head = self.model.get_output_embeddings()
        return head(hidden[:, -1]) if last == 1 else head(hidden[:, -last:])

    def embed_tokens(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(token_ids)

    def new_cache(self) -> Any:
        from transformers import DynamicCache
        return DynamicCache()

    def token_grids(self, prepared: PreparedInputs) -> list[tuple[int, int]]:
        """(rows, cols) of visual tokens per image, row-major; [] if the family can't say."""
        return []

    # -- helpers shared by families ----------------------------------------------------------
    def fit_image(self, image: np.ndarray) -> np.ndarray:
        """Downscale so the longer side is at most image_max_side (aspect kept)."""
        h, w = image.shape[:2]
        scale = self.image_max_side / max(h, w)
        if scale >= 1.0:
            return image
        import cv2
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

