"""A smaller model of the same tokenizer family drafts (Leviathan et al., 2023).

For real deployments: Qwen2.5-VL-3B drafting for Qwen2.5-VL-7B/32B (same
tokenizer, same image processor, so the target's prepared inputs feed it
as they are). The drafter keeps its own left-padded `DenseBatchKV`, one row per
running row in the same order: rows that left the batch are dropped, new rows
are prefilled from their prepared inputs (its own vision tower, no pruning),
and after every draft the speculative columns are masked off again
(`truncate_rows`), so its cache only ever holds committed tokens.
"""
from __future__ import annotations

from typing import Any

import torch

from cloud.kvcache.dense import DenseBatchKV
from cloud.speculative.drafter import DraftContext, Drafter, DraftRow
from cloud.speculative.grammar_draft import greedy_draft


class SmallModelDrafter(Drafter):
    name = "small_model"

    def __init__(self, adapter: Any):
        self.adapter = adapter
        self.kv = DenseBatchKV()
        self.ids: list[str] = []
        self.in_kv: dict[str, int] = {}
        self.start: dict[str, int] = {}

    def _sync(self, rows: list[DraftRow]) -> None:
        want = [r.seq_id for r in rows]
        if self.ids == want:
            return
        keep = [i for i, s in enumerate(self.ids) if s in set(want)]
        kept = [self.ids[i] for i in keep]
        if kept != want[:len(kept)]:       # order changed: start afresh
            keep, kept = [], []
        if len(keep) != len(self.ids):
            self.kv.select(keep)
            self.ids = kept
        for r in rows[len(kept):]:
            self._prefill(r)

    @torch.inference_mode()
    def _prefill(self, row: DraftRow) -> None:
        pre = self.adapter.embed(row.state.prepared)
        cache = self.adapter.new_cache()
        self.adapter.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, cache)
        self.kv.merge(cache, pre.attention_mask)
        self.ids.append(row.seq_id)
        self.in_kv[row.seq_id] = 0
        self.start[row.seq_id] = int(pre.position_ids.max()) + 1

    @torch.inference_mode()
    def propose(self, rows: list[DraftRow], ctx: DraftContext) -> list[list[int]]:
        self._sync(rows)
        blocks = [r.committed[self.in_kv[r.seq_id]:] + r.prefix for r in rows]
        starts = [self.start[r.seq_id] + self.in_kv[r.seq_id] for r in rows]
        before = self.kv.length
        drafts, mask = greedy_draft(self.adapter, self.kv.cache, self.kv.mask, rows, blocks,
                                    starts, ctx)
        self.kv.mask = mask
        appended = mask.shape[1] - before
        committed = [len(r.committed) - self.in_kv[r.seq_id] for r in rows]
        self.kv.truncate_rows([appended - c for c in committed])
        for r in rows:
            self.in_kv[r.seq_id] = len(r.committed)
        return drafts

    def release(self, seq_ids: set[str]) -> None:
        for s in seq_ids:
            self.in_kv.pop(s, None)
            self.start.pop(s, None)
