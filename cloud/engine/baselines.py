"""Serving baselines the engine is measured against: plain transformers `generate()`.

What a careful engineer deploys instead of a continuous-batching engine:
- one-by-one: `generate()` on one request at a time (a worker and a FIFO);
- static batching: `generate()` on a left-padded batch of every request waiting
  when the worker frees up; the batch runs until its slowest row finishes.
Both decode under the engine's own constraint (`cloud.answer.constrained.BatchConstraint`:
the alert-schema grammar plus the closing reserve near the token budget), so every
arm's answers parse and every arm stops where the engine would: a row ends when its
grammar completes (no extra end-of-sequence token) or its budget runs out.

The grammar hooks into `generate()` through its public extension points, a
`LogitsProcessor` (mask) and a `StoppingCriteria` (advance the matchers with the
token just chosen, report finished rows), not by patching the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from transformers import LogitsProcessor, StoppingCriteria

from cloud.answer.constrained import BatchConstraint, JsonGrammar
from cloud.models.base import ModelAdapter, PreparedInputs


@dataclass
class GenerateOutput:
    text: str
    tokens: int


class _GrammarState:
    """One matcher per row; shared by the processor (mask) and the criteria (advance)."""

    def __init__(self, grammar: JsonGrammar, rows: int, prompt_len: int, max_new_tokens: int,
                 close_reserve: int, stop_ids: set[int]):
        self.constraint = BatchConstraint(grammar, close_reserve=close_reserve)
        self.matchers = [grammar.matcher() for _ in range(rows)]
        self.tokens: list[list[int]] = [[] for _ in range(rows)]
        self.done = [False] * rows
        self.prompt_len = prompt_len
        self.max_new_tokens = max_new_tokens
        self.stop_ids = stop_ids


class GrammarLogitsProcessor(LogitsProcessor):
    def __init__(self, state: _GrammarState, fill_id: int):
        self.state = state
        self.fill_id = fill_id

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        st = self.state
        active = [i for i, d in enumerate(st.done) if not d]
        out = torch.full_like(scores, float("-inf"))
        out[:, self.fill_id] = 0.0          # finished rows: generate() pads them anyway
        if active:
            remaining = [st.max_new_tokens - len(st.tokens[i]) for i in active]
            masked = st.constraint.mask(scores[active].float(), [st.matchers[i] for i in active], remaining)
            out[active] = float("-inf")
            out[active, : masked.shape[1]] = masked.to(out.dtype)
        return out


class GrammarStoppingCriteria(StoppingCriteria):
    def __init__(self, state: _GrammarState):
        self.state = state

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        st = self.state
        last = input_ids[:, -1].tolist()
        for i, tok in enumerate(last):
            if st.done[i]:
                continue
            if tok in st.stop_ids:
                st.done[i] = True
                continue
            if not st.matchers[i].accept_token(tok):
                raise RuntimeError(f"grammar rejected token {tok} in row {i}")
            st.tokens[i].append(tok)
            st.done[i] = st.matchers[i].is_completed() or len(st.tokens[i]) >= st.max_new_tokens
        return torch.tensor(st.done, dtype=torch.bool, device=input_ids.device)


def _left_pad(prepared: Sequence[PreparedInputs], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(int(p.input_ids.shape[0]) for p in prepared)
    ids = torch.full((len(prepared), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prepared), width), dtype=torch.long)
    for i, p in enumerate(prepared):
        n = int(p.input_ids.shape[0])
        ids[i, width - n:] = p.input_ids
        mask[i, width - n:] = 1
    return ids, mask


def _batched_model_inputs(prepared: Sequence[PreparedInputs]) -> dict[str, Any]:
    # Every family's image inputs stack on dim 0 (LLaVA: images; Qwen-VL: patches and grids).
    out: dict[str, Any] = {}
    for key in prepared[0].model_inputs:
        vals = [p.model_inputs[key] for p in prepared]
        out[key] = torch.cat(vals, dim=0) if isinstance(vals[0], torch.Tensor) else vals[0]
    return out


@torch.inference_mode()
def generate_batch(adapter: ModelAdapter, grammar: JsonGrammar, prepared: Sequence[PreparedInputs],
                   max_new_tokens: int, close_reserve: int = 0) -> list[GenerateOutput]:
    """Greedy `generate()` on a left-padded batch (one request = a batch of one)."""
    stop_ids = set(grammar.stop_token_ids) | set(adapter.stop_token_ids)
    pad_id = adapter.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = adapter.stop_token_ids[0]
    ids, mask = _left_pad(prepared, pad_id)
    extra = _batched_model_inputs(prepared)
    if adapter.family.startswith("qwen"):
        extra["mm_token_type_ids"] = (ids == adapter.image_token_id).int()
    state = _GrammarState(grammar, len(prepared), ids.shape[1], max_new_tokens, close_reserve, stop_ids)
    adapter.model.generate(
        input_ids=ids.to(adapter.device), attention_mask=mask.to(adapter.device),
        **{k: (v.to(adapter.device) if isinstance(v, torch.Tensor) else v) for k, v in extra.items()},
        max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=sorted(stop_ids), pad_token_id=pad_id,
        logits_processor=[GrammarLogitsProcessor(state, pad_id)],
        stopping_criteria=[GrammarStoppingCriteria(state)])
    return [GenerateOutput(adapter.tokenizer.decode(toks, skip_special_tokens=True), len(toks))
            for toks in state.tokens]
