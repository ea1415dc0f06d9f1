"""The engine's speculative decoding: per-row state around `speculative_step`.

When speculation is configured, `ModelRunner.decode()` runs `speculative_step` itself
(the `Speculator` seam of cloud/seams.py): it asks `rows_for(rows)` for the step's rows
and hands the results to `settle`. The speculator keeps what outlives one step
for each row (how many committed tokens the target's KV holds, the adaptive
draft length, a salvaged draft tail, the JSON field tracker over the answer)
and the run's statistics; a row is forgotten when it finishes (or, if it left
the batch otherwise, on the next step). Statistics follow vLLM: mean accepted length = 1 + accepted drafted
tokens / drafting steps, where a drafting step is one row's verify pass that
had at least one drafted token.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from cloud.speculative.adaptive import DraftLength
from cloud.speculative.config import SpeculativeConfig
from cloud.speculative.decode import RowResult, SpecRow
from cloud.speculative.drafter import Drafter
from cloud.speculative.fields import JsonFieldTracker, token_is_anchor
from cloud.speculative.verify import Verifier, build_verifier


@dataclass
class SpecStats:
    target_passes: int = 0         # verify forwards of the target (batched)
    row_steps: int = 0             # rows served by those passes
    drafting_steps: int = 0        # row steps with >= 1 drafted token (vLLM's num_drafts)
    drafter_steps: int = 0         # ... with >= 1 token from the drafter itself
    emitted: int = 0
    drafted: int = 0
    accepted: int = 0
    accepted_exact: int = 0
    grammar_drafted: int = 0
    grammar_accepted: int = 0
    salvaged_drafted: int = 0
    salvaged_accepted: int = 0
    jump_forward: int = 0
    anchors_checked: int = 0
    anchors_rejected: int = 0
    visual_anchors: int = 0
    loose_accepted: int = 0        # drafts accepted without matching the target

    def add(self, res: RowResult) -> None:
        for f in fields(RowResult):
            if f.name in ("stopped", "carry", "asked", "loose_at"):
                continue
            setattr(self, f.name, getattr(self, f.name) + getattr(res, f.name))
        self.loose_accepted += len(res.loose_at)
        proposed = res.drafted + res.grammar_drafted + res.salvaged_drafted
        self.drafting_steps += int(proposed > 0)
        self.drafter_steps += int(res.drafted > 0)
        self.row_steps += 1

    def summary(self) -> dict[str, Any]:
        proposed = self.drafted + self.grammar_drafted + self.salvaged_drafted
        accepted = self.accepted + self.grammar_accepted + self.salvaged_accepted
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["mean_accepted_length"] = (1 + accepted / self.drafting_steps
                                       if self.drafting_steps else 1.0)
        out["acceptance_rate"] = accepted / proposed if proposed else 0.0
        out["drafter_acceptance_rate"] = self.accepted / self.drafted if self.drafted else 0.0
        out["drafter_mean_accepted_length"] = (1 + self.accepted / self.drafter_steps
                                               if self.drafter_steps else 1.0)
        out["jump_forward_share"] = self.jump_forward / self.emitted if self.emitted else 0.0
        # Tokens the grammar decided: emitted unverified, or its forced string accepted as a draft.
        out["grammar_share"] = ((self.jump_forward + self.grammar_accepted) / self.emitted
                                if self.emitted else 0.0)
        out["drafter_share"] = self.accepted / self.emitted if self.emitted else 0.0
        out["tokens_per_row_step"] = self.emitted / self.row_steps if self.row_steps else 0.0
        return out


@dataclass
class _RowSpec:
    in_kv: int
    draft_len: DraftLength
    context: list[int]
    tracker: JsonFieldTracker
    tracked: int = 0               # committed tokens fed to the tracker
    tail: str = ""                 # last characters of the answer (anchor terms across tokens)
    carry: list[int] = field(default_factory=list)
    visual_positions: Any = None   # prompt indices of the visual tokens (visual anchors only)


TAIL_CHARS = 32   # enough to see the word a token continues


class Speculator:
    def __init__(self, config: SpeculativeConfig, drafter: Drafter, verifier: Verifier | None = None,
                 *, tokenizer: Any, image_token_id: int | None = None, visual: Any = None):
        self.config = config
        # LVSpec's visual-relevance anchors (cloud/speculative/visual.py), loose mode only.
        self.visual = visual
        self.drafter = drafter
        self.verifier = verifier or build_verifier(config)
        self.tokenizer = tokenizer
        self.image_token_id = image_token_id
        self.rows: dict[str, _RowSpec] = {}
        self.stats = SpecStats()
        self._text: dict[int, str] = {}
        self._fields = frozenset(config.anchor_fields)
        self._terms = frozenset(t.lower() for t in config.anchor_terms)

    def text(self, token: int) -> str:
        if token not in self._text:
            self._text[token] = self.tokenizer.decode([token], skip_special_tokens=False)
        return self._text[token]

    def _state(self, r: Any) -> _RowSpec:
        spec = self.rows.get(r.seq_id)
        if spec is None:
            ids = r.prepared.input_ids.tolist() if r.prepared is not None else []
            context = [t for t in ids if t != self.image_token_id]
            c = self.config
            spec = _RowSpec(in_kv=0, context=context, tracker=JsonFieldTracker(),
                            draft_len=DraftLength(c.draft_tokens, c.min_draft_tokens,
                                                  c.max_draft_tokens, c.adaptive),
                            visual_positions=self._visual_positions(r, ids) if self.visual else None)
            self.rows[r.seq_id] = spec
        while spec.tracked < len(r.tokens):     # the answer so far, for anchor look-ups
            piece = self.text(r.tokens[spec.tracked])
            spec.tracker.feed(piece)
            spec.tail = (spec.tail + piece)[-TAIL_CHARS:]
            spec.tracked += 1
        return spec

    def _visual_positions(self, r: Any, ids: list[int]):
        """Prompt indices of the row's visual tokens. A pruned prompt keeps its visual tokens in order
        where the image was: the first `visual_tokens` slots from the first visual index."""
        import torch

        at = [i for i, t in enumerate(ids) if t == self.image_token_id]
        kept = int(getattr(r, "visual_tokens", 0) or len(at))
        if at and kept < len(at):
            at = list(range(at[0], at[0] + kept))
        return torch.tensor(at, dtype=torch.long)

    def _anchor_fn(self, spec: _RowSpec):
        def is_anchor(tokens: list[int], token: int) -> bool:
            # Drafted-and-accepted tokens of this step are not in the tracker yet.
            tracker, tail = spec.tracker, spec.tail
            if spec.tracked < len(tokens):
                tracker = tracker.copy()
                extra = "".join(self.text(t) for t in tokens[spec.tracked:])
                tracker.feed(extra)
                tail = (tail + extra)[-TAIL_CHARS:]
            return token_is_anchor(tracker, self.text(token), self._fields, self._terms, tail)
        return is_anchor

    def rows_for(self, running: list[Any]) -> list[SpecRow]:
        """The runner's rows with their speculative state, as `speculative_step` takes them; rows that
        left the batch since the last step are forgotten."""
        live = {r.seq_id for r in running}
        gone = set(self.rows) - live
        if gone:
            for s in gone:
                del self.rows[s]
            self.drafter.release(gone)
        specs = [self._state(r) for r in running]
        return [SpecRow(seq_id=r.seq_id, state=r, tokens=r.tokens, in_kv=s.in_kv,
                        next_position=r.next_position, max_new_tokens=r.max_new_tokens,
                        matcher=r.matcher, context=s.context, draft_len=s.draft_len.value,
                        carry=s.carry, visual_positions=s.visual_positions,
                        is_anchor=self._anchor_fn(s) if self.verifier.loose else None)
                for r, s in zip(running, specs)]

    def settle(self, running: list[Any], spec_rows: list[SpecRow], results: list[RowResult]) -> None:
        """After the runner's step: each row's KV count, salvaged tail, draft length and the drafter's
        feedback; statistics; rows that finished are handed to the drafter and forgotten."""
        self.stats.target_passes += 1
        for r, row, res in zip(running, spec_rows, results):
            s = self.rows[r.seq_id]
            s.in_kv, s.carry = row.in_kv, res.carry
            self.stats.add(res)
            if res.asked or res.drafted:
                # The draft length adapts on the tokens it asked for, not the padding fill.
                s.draft_len.update(min(res.drafted, res.asked), min(res.accepted, res.asked))
                self.drafter.feedback(r.seq_id, res.drafted, res.accepted)
        for r in running:
            if r.done:   # forget it now: a later request may reuse the id
                self.drafter.observe(r.seq_id, list(r.tokens))
                del self.rows[r.seq_id]
                self.drafter.release({r.seq_id})
