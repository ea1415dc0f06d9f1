"""Visual-token pruning, applied by the runner between the projector and the language model.

The adapter gives the facts (`embed`'s PrefillInputs, `token_grids`, `language_model`,
`position_rows`); this module builds one `cloud.prune.PruneContext` per image (visual
embeddings, lazy early-layer text attention, [CLS] attention, the edge's boxes as a prior), asks
the pruner for the kept indices of each image and gathers them with `PrefillInputs.keep_visual`.
"""
from __future__ import annotations

from typing import Any

import torch

from cloud.models.base import ModelAdapter, PrefillInputs, PreparedInputs
from cloud.prune.attention import early_text_attention
from cloud.prune.base import PruneContext
from cloud.prune.box_prior import box_coverage
from cloud.seams import Pruner


def prune_one(adapter: ModelAdapter, pre: PrefillInputs, prepared: PreparedInputs, pruner: Pruner, *,
              stream_id: str | None = None, boxes_by_frame: dict[int, list] | None = None) -> PrefillInputs:
    """`pre` with only the visual tokens `pruner` keeps, image by image; every text token stays."""
    result = prune_batch(adapter, [pre], [prepared], pruner, stream_ids=[stream_id],
                         boxes_by_frame=[boxes_by_frame])[0]
    if isinstance(result, Exception):
        raise result
    return result


def prune_batch(adapter: ModelAdapter, pres: list[PrefillInputs], prepared: list[PreparedInputs],
                pruner: Pruner | None, *, stream_ids: list[str | None] | None = None,
                boxes_by_frame: list[dict[int, list] | None] | None = None
                ) -> list[PrefillInputs | Exception]:
    """`prune_one` for every request of a prefill batch: the pruner selects for all their images in
    one `select_batch` call (one batched launch on the GPU). A request whose pruning fails gets
    its exception in its slot instead of failing the others."""
    if pruner is None:
        return list(pres)
    stream_ids = stream_ids or [None] * len(pres)
    boxes_by_frame = boxes_by_frame or [None] * len(pres)
    contexts: list[list[Any] | Exception] = []
    for pre, prep, stream_id, boxes in zip(pres, prepared, stream_ids, boxes_by_frame):
        try:
            contexts.append([] if pre.n_visual == 0 else prune_contexts(
                adapter, pre, prep, pruner=pruner, stream_id=stream_id, boxes_by_frame=boxes))
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


def prune_contexts(adapter: ModelAdapter, pre: PrefillInputs, prepared: PreparedInputs, *, pruner: Pruner,
                   stream_id: str | None = None,
                   boxes_by_frame: dict[int, list] | None = None) -> list[Any]:
    """One `cloud.prune.PruneContext` per image, in prompt order.

    The budget applies per image (as the papers prune each image's tokens). Text
    attention is always offered, lazily: one shallow LM pass for the whole prompt,
    run only if the pruner reads it, sliced per image. The edge's boxes of frame i
    become image i's coverage prior when the pruner weighs boxes. Frame i of a camera reuses its selection
    from frame i of the camera's previous request (stream id "camera#i").
    """
    cfg = pruner.config
    visual_pos = torch.nonzero(pre.visual_token_mask[0]).squeeze(1)
    text_pos = torch.nonzero(~pre.visual_token_mask[0]).squeeze(1)
    after = text_pos[text_pos > visual_pos.max()] if len(visual_pos) else text_pos
    query = after[-1:] if cfg.text_query == "last" or len(after) == 0 else after
    positions = pre.position_ids if adapter.position_rows > 1 else pre.position_ids[0]
    shallow: dict[str, Any] = {}

    def attention():
        if "att" not in shallow:
            shallow["att"] = early_text_attention(
                adapter.language_model, pre.inputs_embeds, positions, query, visual_pos,
                cfg.importance_layer)
        return shallow["att"]

    grids = adapter.token_grids(prepared)
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


def _keep_selected(pre: PrefillInputs, ctxs: list, kept: list[torch.Tensor]) -> PrefillInputs:
    """`pre` with its text tokens and each image's kept visual tokens (original order)."""
    if not ctxs:
        return pre
    indices, offset = [], 0
    for ctx, chosen in zip(ctxs, kept):   # one per image; the budget applies per image
        indices.append(chosen.to(pre.visual_token_mask.device) + offset)
        offset += ctx.n_visual
    return pre.keep_visual(torch.cat(indices))
