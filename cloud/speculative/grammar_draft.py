"""Greedy drafting with a model under the grammar (shared by the model drafters).

Feeds each row its block (tokens its cache has not seen + the prefix) in one
ragged pass, then drafts one token per row per pass, masking every row's
logits with its matcher exactly as the target's decode does. Matchers are
advanced while drafting and rolled back before returning.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from cloud.speculative.ragged_forward import ragged_forward
from cloud.speculative.drafter import DraftContext, DraftRow


def greedy_draft(adapter: Any, cache: Any, mask: torch.Tensor, rows: Sequence[DraftRow],
                 blocks: Sequence[list[int]], starts: Sequence[int],
                 ctx: DraftContext) -> tuple[list[list[int]], torch.Tensor]:
    """Draft up to rows[i].k tokens each; returns the drafts and the mask after all passes."""
    drafts: list[list[int]] = [[] for _ in rows]
    live = [r.k > 0 for r in rows]
    logits, mask = ragged_forward(adapter, cache, mask, blocks, starts)
    last = torch.stack([logits[i, max(len(b), 1) - 1] for i, b in enumerate(blocks)])
    nexts = [s + len(b) for s, b in zip(starts, blocks)]
    advanced = [0] * len(rows)
    for step in range(max((r.k for r in rows), default=0)):
        matchers = [r.matcher for r in rows]
        remaining = [r.remaining - step for r in rows]
        masked = ctx.constraint.mask(last.clone(), matchers, remaining)
        picks = masked.argmax(dim=-1).tolist()
        feed = []
        for i, (r, tok) in enumerate(zip(rows, picks)):
            if live[i] and (tok in ctx.stop_ids or not r.matcher.accept_token(tok)):
                live[i] = False
            if live[i]:
                advanced[i] += 1
                drafts[i].append(tok)
                live[i] = len(drafts[i]) < r.k and not r.matcher.is_completed()
            feed.append([tok] if live[i] else [])
        if not any(live):
            break
        logits, mask = ragged_forward(adapter, cache, mask, feed, nexts)
        last = logits[:, 0]
        nexts = [n + 1 for n in nexts]
    for r, n in zip(rows, advanced):
        if n:
            r.matcher.rollback(n)
    return drafts, mask
