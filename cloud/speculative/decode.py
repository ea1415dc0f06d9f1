"""One draft-and-verify step over the running batch (gpt-fast's `speculative_decode`,
batched, under a JSON grammar).

    for each row: jump-forward (grammar-forced tokens, no model call)
                  prefix = salvaged tail of the last step, or (strict) the canonical
                           tokens of the grammar's forced string
    drafts = drafter.propose(rows)                  # cheap; truncated at the first
                                                    # grammar-illegal token; a free
                                                    # drafter fills the block's width
    logits = target(pending + prefix + drafts)      # ONE ragged forward, all rows
    for each row, position j: the target's choice t_j under the same grammar masking
                  (close steering included) that plain decoding applies; accept the
                  draft while the verifier says so, then emit t_j (correction or bonus)
    KV: each row keeps pending + accepted columns; the rejected tail is masked
        (`BatchKV.truncate_rows`), so the cache equals one that never saw it.

Rows accept different numbers of tokens; a row's tokens that its KV has not
seen yet ("pending": the last emitted token, plus jump-forward tokens) are fed
at the start of its next block, so jump-forward costs no model call of its own
(SGLang's jump-forward, which also re-prefills the forced text with the next step).

A position is an anchor (loose mode: exact match only) when the drafted token
or the target's choice there touches an anchor, so a filler draft cannot stand
in for an anchor the target wanted ("empty" where the target says "far").

Jump-forward emits only tokens that are the single legal next token: the greedy
target must pick them, so it is exact in both modes. The grammar's forced *string*
(the keys between values) can be spelled in several token splits, and the split
changes what the target says next; so its canonical tokenization is proposed as a
draft (`grammar_drafted`) and verified like any draft, strictly or loosely.

The function mutates the rows' token lists and matchers and the KV, as gpt-fast's
mutates its caches; everything else it returns.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import xgrammar as xgr

from cloud.speculative.ragged_forward import ragged_forward
from cloud.speculative.drafter import DraftContext, Drafter, DraftRow
from cloud.speculative.verify import Verifier


@dataclass
class SpecRow:
    seq_id: str
    state: Any                     # the runner's RowState
    tokens: list[int]              # committed answer tokens (appended to in place)
    in_kv: int                     # how many of them the target's KV holds
    next_position: int             # position id of tokens[0]
    max_new_tokens: int
    matcher: Any
    context: list[int]             # prompt text ids (for prompt lookup)
    draft_len: int
    carry: list[int] = field(default_factory=list)   # salvaged tail from the last step
    is_anchor: Callable[[list[int], int], bool] | None = None   # (tokens before, token) -> anchor
    visual_positions: Any = None   # prompt indices of the visual tokens (visual anchors)


@dataclass
class RowResult:
    emitted: int = 0               # tokens committed this step
    stopped: bool = False          # stop token chosen or the grammar completed
    drafted: int = 0               # drafter tokens verified
    accepted: int = 0              # ... accepted
    accepted_exact: int = 0        # ... equal to the target's choice
    grammar_drafted: int = 0       # forced-string tokens verified as drafts
    grammar_accepted: int = 0
    salvaged_drafted: int = 0      # tail carried over from a one-position shift (loose)
    salvaged_accepted: int = 0
    jump_forward: int = 0          # tokens emitted without verification
    anchors_checked: int = 0       # loose: anchor look-ups (token ranked high, not exact)
    anchors_rejected: int = 0
    visual_anchors: int = 0        # loose: anchors by the target's attention on the image
    asked: int = 0                 # tokens the drafter was asked for
    loose_at: list[int] = field(default_factory=list)   # answer indices accepted loosely
    carry: list[int] = field(default_factory=list)


def allowed_tokens(matcher: Any, bitmask: torch.Tensor, vocab_size: int) -> np.ndarray:
    """Ids the grammar allows next (bitmask decoded)."""
    matcher.fill_next_token_bitmask(bitmask, 0)
    bits = np.unpackbits(bitmask[0].numpy().view(np.uint8), bitorder="little")[:vocab_size]
    return np.flatnonzero(bits)


def _forced_run(row: SpecRow, budget: int, bitmask: torch.Tensor, vocab: int,
                stop_ids: set[int]) -> int:
    """Emit tokens that are the only legal next token (at most `budget`); returns how many."""
    n = 0
    while n < budget and not row.matcher.is_completed():
        legal = allowed_tokens(row.matcher, bitmask, vocab)
        if len(legal) != 1 or int(legal[0]) in stop_ids or not row.matcher.accept_token(int(legal[0])):
            break
        row.tokens.append(int(legal[0]))
        n += 1
    return n


def _accept_prefix(matcher: Any, tokens: list[int]) -> list[int]:
    kept = []
    for tok in tokens:
        if not matcher.accept_token(tok):
            break
        kept.append(tok)
    return kept


def _fill_to_width(rows: list[SpecRow], results: list[RowResult], draft_rows: list[DraftRow]) -> None:
    """Ask a free drafter for as many tokens as the widest row's block holds: a shorter row's
    block is padded to that width, and a padded column costs the forward as much as a token."""
    sizes = [len(row.tokens) - row.in_kv + len(d.prefix) + d.k
             for row, res, d in zip(rows, results, draft_rows) if not res.stopped]
    width = max(sizes, default=0)
    for row, res, d in zip(rows, results, draft_rows):
        if res.stopped:
            continue
        room = width - (len(row.tokens) - row.in_kv) - len(d.prefix)
        d.k = max(d.k, min(room, d.remaining - 1))


def speculative_step(target: Any, drafter: Drafter, verifier: Verifier, kv: Any,
                     rows: list[SpecRow], constraint: Any, stop_ids: set[int], *,
                     jump_forward: bool, position_shift: bool,
                     encode: Callable[[str], list[int]], fill_padding: bool = False,
                     visual: Any = None) -> list[RowResult]:
    """Draft, verify in one target pass, commit; rows are the running batch in KV order. `visual`
    (cloud/speculative/visual.py's VisualAnchors, loose only) reads the verify pass's attention on
    the image: a position the target chose while looking at it is an anchor."""
    results = [RowResult() for _ in rows]
    vocab = constraint.grammar.vocab_size
    bitmask = xgr.allocate_token_bitmask(1, vocab)
    loose = verifier.loose
    draft_rows: list[DraftRow] = []
    prefixes: list[list[int]] = []
    kinds: list[str] = []
    start_len = [len(row.tokens) for row in rows]
    for i, (row, res) in enumerate(zip(rows, results)):
        budget = row.max_new_tokens - len(row.tokens)
        if jump_forward and budget > 1:
            res.jump_forward = _forced_run(row, budget - 1, bitmask, vocab, stop_ids)
        budget = row.max_new_tokens - len(row.tokens)
        if row.matcher.is_completed() or budget <= 0:
            res.stopped = row.matcher.is_completed()
        # Salvaged tail first (loose); else the grammar's forced string as a verified draft.
        prefix, kind = [], ""
        if res.stopped:
            pass
        elif row.carry and position_shift and loose:
            prefix = _accept_prefix(row.matcher, row.carry[:max(0, min(row.draft_len, budget - 1))])
            kind = "carry"
        if not prefix and jump_forward and budget > 1 and not row.matcher.is_completed():
            text = row.matcher.find_jump_forward_string()
            if text:
                prefix = _accept_prefix(row.matcher, encode(text)[:budget - 1])
                kind = "grammar"
        k = 0 if res.stopped else max(0, min(row.draft_len - len(prefix), budget - 1 - len(prefix)))
        res.asked = k
        prefixes.append(prefix)
        kinds.append(kind)
        draft_rows.append(DraftRow(
            index=i, seq_id=row.seq_id, state=row.state, context=row.context + row.tokens,
            committed=row.tokens, in_kv=row.in_kv, prefix=prefix, matcher=row.matcher, k=k,
            remaining=budget - len(prefix), position=row.next_position))
    if fill_padding and drafter.free:
        _fill_to_width(rows, results, draft_rows)
    ctx = DraftContext(target=target, kv=kv, constraint=constraint, stop_ids=stop_ids, rows=len(rows))
    proposals = (drafter.propose(draft_rows, ctx) if any(d.k > 0 for d in draft_rows)
                 else [[] for _ in rows])
    drafts = []
    for row, d, prefix, proposal in zip(rows, draft_rows, prefixes, proposals):
        cont = []
        for tok in proposal[:d.k]:
            if tok in stop_ids or not row.matcher.accept_token(tok):
                break
            cont.append(tok)
        drafts.append(prefix + cont)
        row.matcher.rollback(len(prefix) + len(cont))
    if all(res.stopped or row.max_new_tokens - len(row.tokens) <= 0
           for row, res in zip(rows, results)):
        for row, res, start in zip(rows, results, start_len):
            res.emitted = len(row.tokens) - start
        return results
    blocks, starts = [], []
    for row, res, draft in zip(rows, results, drafts):
        live = not res.stopped and row.max_new_tokens > len(row.tokens)
        blocks.append(row.tokens[row.in_kv:] + draft if live else [])
        starts.append(row.next_position + row.in_kv)
    visual = visual if loose else None
    with visual.probe.capture() if visual is not None else contextlib.nullcontext():
        logits, kv.mask = ragged_forward(target, kv.cache, kv.mask, blocks, starts)
    share = (visual.shares(kv.cache, kv.mask, [row.visual_positions for row in rows])
             if visual is not None else None)
    width = logits.shape[1]
    drop = []
    for i, (row, res, draft, block) in enumerate(zip(rows, results, drafts, blocks)):
        if not block:
            drop.append(width)
            continue
        m = len(block) - len(draft)
        n_prefix = len(prefixes[i])
        accepted = 0
        for j in range(len(draft) + 1):
            remaining = row.max_new_tokens - len(row.tokens)
            if remaining <= 0:
                break
            masked = constraint.mask(logits[i, m - 1 + j].unsqueeze(0).clone(), [row.matcher],
                                     [remaining])[0]
            choice = int(masked.argmax())
            if j < len(draft):
                tok = draft[j]
                exact = tok == choice

                def anchor(tok=tok, choice=choice, column=m - 1 + j):
                    # An anchor position: the draft or the target's own choice touches one, or the
                    # target looked at the image to choose there.
                    res.anchors_checked += 1
                    hit = row.is_anchor is not None and (row.is_anchor(row.tokens, tok)
                                                         or row.is_anchor(row.tokens, choice))
                    if not hit and share is not None and visual.is_anchor(float(share[i, column])):
                        hit = True
                        res.visual_anchors += 1
                    res.anchors_rejected += int(hit)
                    return hit

                ok = verifier.accept(masked, tok, choice, anchor)
                in_prefix = j < n_prefix
                if in_prefix and kinds[i] == "grammar":
                    res.grammar_drafted += 1
                elif in_prefix:
                    res.salvaged_drafted += 1
                else:
                    res.drafted += 1
                if ok:
                    if not exact:
                        res.loose_at.append(len(row.tokens))
                    row.matcher.accept_token(tok)
                    row.tokens.append(tok)
                    accepted += 1
                    if in_prefix and kinds[i] == "grammar":
                        res.grammar_accepted += 1
                    elif in_prefix:
                        res.salvaged_accepted += 1
                    else:
                        res.accepted += 1
                        res.accepted_exact += int(exact)
                    if row.matcher.is_completed():
                        break
                    continue
                # Count the rest of the draft as verified-and-rejected (vLLM counts drafts).
                for jj in range(j + 1, len(draft)):
                    if jj < n_prefix and kinds[i] == "grammar":
                        res.grammar_drafted += 1
                    elif jj < n_prefix:
                        res.salvaged_drafted += 1
                    else:
                        res.drafted += 1
                if loose and position_shift and j + 1 < len(draft) and draft[j + 1] == choice:
                    # One position late: the draft had an extra token before the target's
                    # choice; its tail after that choice is the next step's draft.
                    res.carry = draft[j + 2:]
            if choice in stop_ids:
                res.stopped = True
            elif row.matcher.accept_token(choice):
                row.tokens.append(choice)
            else:
                raise RuntimeError(f"grammar rejected the target's token {choice} for {row.seq_id}")
            break
        drop.append(width - (m + accepted))
        row.in_kv += m + accepted
        res.stopped = res.stopped or row.matcher.is_completed()
    kv.truncate_rows(drop)
    for row, res, start in zip(rows, results, start_len):
        res.emitted = len(row.tokens) - start
    return results
