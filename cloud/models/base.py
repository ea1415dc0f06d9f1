"""ModelAdapter: the one small interface between the engine and a VLM family.

An adapter turns (images, prompt) into token ids and pixels (`prepare`, CPU,
any thread), runs the vision tower and projector and scatters the visual
embeddings into the text embeddings (`embed`), and runs the language model on
embeddings with explicit position ids and an explicit cache (`forward`).

The pruning hook sits between `embed` and the first `forward`: `embed`
returns a `PrefillInputs` (inputs_embeds, position_ids, visual_token_mask,
attention_mask); `prune_contexts` turns it into one `cloud.prune.PruneContext`
per image (visual embeddings, lazy early-layer text attention, [CLS]
attention, the edge's boxes as a prior); a `TokenPruner` returns the kept
indices of each image and `PrefillInputs.select` gathers them, keeping the
original order and the original position ids (M-RoPE rows included), so the
kept tokens sit where they sat in the image.

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

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, image_max_side: int = 448):
        self.model = model
        self.tokenizer = tokenizer
        self.image_max_side = image_max_side

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

    def prune(self, pre: PrefillInputs, prepared: PreparedInputs, pruner: Any, *,
              stream_id: str | None = None, boxes_by_frame: dict[int, list] | None = None) -> PrefillInputs:
        """`pre` with only the visual tokens `pruner` keeps, image by image; every text token stays."""
        result = self.prune_batch([pre], [prepared], pruner, stream_ids=[stream_id],
                                  boxes_by_frame=[boxes_by_frame])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def prune_batch(self, pres: list[PrefillInputs], prepared: list[PreparedInputs], pruner: Any, *,
                    stream_ids: list[str | None] | None = None,
                    boxes_by_frame: list[dict[int, list] | None] | None = None
                    ) -> list[PrefillInputs | Exception]:
        """`prune` for every request of a prefill batch: the pruner selects for all their images in
        one `select_batch` call (one batched launch on the GPU). A request whose pruning fails gets
        its exception in its slot instead of failing the others."""
        if pruner is None:
            return list(pres)
        stream_ids = stream_ids or [None] * len(pres)
        boxes_by_frame = boxes_by_frame or [None] * len(pres)
        contexts: list[list[Any] | Exception] = []
        for pre, prep, stream_id, boxes in zip(pres, prepared, stream_ids, boxes_by_frame):
            try:
                contexts.append([] if pre.n_visual == 0 else self.prune_contexts(
                    pre, prep, pruner=pruner, stream_id=stream_id, boxes_by_frame=boxes))
            except Exception as exc:  # this request only
                contexts.append(exc)
        flat = [ctx for ctxs in contexts if not isinstance(ctxs, Exception) for ctx in ctxs]
        try:
            kept_all = pruner.select_batch(flat) if flat else []
        except Exception:  # find the culprit: select request by request
            kept_all = None
        out: list[PrefillInputs | Exception] = []
        start = 0
        for pre, ctxs in zip(pres, contexts):
            if isinstance(ctxs, Exception):
                out.append(ctxs)
                continue
            try:
                kept = (kept_all[start:start + len(ctxs)] if kept_all is not None
                        else [pruner.select(ctx) for ctx in ctxs])
                out.append(_keep_selected(pre, ctxs, kept))
            except Exception as exc:
                out.append(exc)
            start += len(ctxs)
        return out

    def prune_contexts(self, pre: PrefillInputs, prepared: PreparedInputs, *, pruner: Any,
                       stream_id: str | None = None,
                       boxes_by_frame: dict[int, list] | None = None) -> list[Any]:
        """One `cloud.prune.PruneContext` per image, in prompt order.

        The budget applies per image (as the papers prune each image's tokens). Text
        attention is always offered, lazily: one shallow LM pass for the whole prompt,
        run only if the pruner reads it, sliced per image. The edge's boxes of frame i
        become image i's coverage prior when the pruner weighs boxes. Frame i of a camera reuses its selection
        from frame i of the camera's previous request (stream id "camera#i").
        """
        from cloud.prune.attention import early_text_attention
        from cloud.prune.base import PruneContext

        cfg = pruner.config
        visual_pos = torch.nonzero(pre.visual_token_mask[0]).squeeze(1)
        text_pos = torch.nonzero(~pre.visual_token_mask[0]).squeeze(1)
        after = text_pos[text_pos > visual_pos.max()] if len(visual_pos) else text_pos
        query = after[-1:] if cfg.text_query == "last" or len(after) == 0 else after
        positions = pre.position_ids if self.position_rows > 1 else pre.position_ids[0]
        shallow: dict[str, Any] = {}

        def attention():
            if "att" not in shallow:
                shallow["att"] = early_text_attention(
                    self.language_model, pre.inputs_embeds, positions, query, visual_pos,
                    cfg.importance_layer)
            return shallow["att"]

        grids = self.token_grids(prepared)
        counts = [r * c for r, c in grids]
        if sum(counts) != len(visual_pos):      # unknown geometry: one context for all tokens
            grids, counts = [], [len(visual_pos)]
        contexts, start = [], 0
        for i, n in enumerate(counts):
            sl = slice(start, start + n)
            start += n
            box_prior = None
            boxes = (boxes_by_frame or {}).get(i)
            if boxes and grids and cfg.box_prior_weight > 0 and i < len(prepared.source_sizes):
                from cloud.prune.box_prior import box_coverage
                h, w = prepared.source_sizes[i]
                box_prior = box_coverage(boxes, (w, h), grids[i], mode="stretch")
            contexts.append(PruneContext(
                visual_embeds=pre.inputs_embeds[0, visual_pos[sl]],
                text_attention=lambda sl=sl: attention().text_to_visual[sl],
                cls_attention=pre.cls_attention[sl] if pre.cls_attention is not None else None,
                keys=attention().visual_keys[sl] if cfg.similarity == "keys" else None,
                box_prior=box_prior,
                stream_id=None if stream_id is None else
                (stream_id if len(counts) == 1 else f"{stream_id}#{i}")))
        return contexts

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


def _keep_selected(pre: PrefillInputs, ctxs: list, kept: list[torch.Tensor]) -> PrefillInputs:
    """`pre` with its text tokens and each image's kept visual tokens (original order)."""
    if not ctxs:
        return pre
    indices, offset = [], 0
    for ctx, chosen in zip(ctxs, kept):   # one per image; the budget applies per image
        indices.append(chosen.to(pre.visual_token_mask.device) + offset)
        offset += ctx.n_visual
    return pre.keep_visual(torch.cat(indices))
