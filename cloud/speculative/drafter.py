"""The Drafter interface: who proposes the tokens the target then verifies.

A drafter sees one `DraftRow` per running row and returns, for each, up to
`row.k` token ids that continue `row.committed + row.prefix`. Proposals need
not be grammar-legal (the decode step truncates a proposal at its first illegal
token), but model drafters mask their own logits with the row's matcher so
that they propose what could be accepted; a drafter that advances a matcher
must roll it back before returning.

Drafters here: prompt lookup (n-grams of the prompt and the edge's hints),
history lookup (n-grams of the engine's recent answers), layer skipping (the
target's own early layers), a smaller model of the same tokenizer family, a
bandit choosing among drafters per request (MetaSD), and `NoDrafter`, the
baseline that proposes nothing (only the grammar's forced strings are then
verified: jump-forward alone).

`free` marks drafters whose proposals cost no model call (look-ups): the
decode step lets them fill the verify block up to its width.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DraftRow:
    index: int                 # row of the running batch (and of the target's KV)
    seq_id: str
    state: Any                 # the runner's RowState (prepared inputs, max_new_tokens)
    context: list[int]         # prompt text ids (no image placeholders) + committed tokens
    committed: list[int]       # answer tokens committed so far
    in_kv: int                 # how many of them the target's KV holds
    prefix: list[int]          # speculative tokens already chosen (grammar run, salvaged tail)
    matcher: Any               # grammar state after committed + prefix
    k: int                     # tokens wanted after prefix (0: none)
    remaining: int             # tokens the row may still emit after prefix
    position: int              # position id of committed[0]


@dataclass
class DraftContext:
    """What a model drafter may use besides its rows."""

    target: Any                # the target ModelAdapter
    kv: Any                    # the target's BatchKV
    constraint: Any            # BatchConstraint (grammar masking, close steering)
    stop_ids: set[int] = field(default_factory=set)
    rows: int = 0              # rows in the running batch


class Drafter(ABC):
    name: str = "base"
    free: bool = False         # proposing costs no model call (a look-up)

    @abstractmethod
    def propose(self, rows: list[DraftRow], ctx: DraftContext) -> list[list[int]]:
        """Up to rows[i].k tokens for each row, continuing after its prefix."""

    def feedback(self, seq_id: str, drafted: int, accepted: int) -> None:
        """How many of this row's proposals the target accepted (bandits learn from it)."""

    def release(self, seq_ids: set[str]) -> None:
        """Forget rows that left the batch."""

    def observe(self, seq_id: str, answer: list[int]) -> None:
        """A finished answer's tokens (retrieval drafters learn from it)."""


class NoDrafter(Drafter):
    """Proposes nothing: the baseline that isolates jump-forward (forced strings only)."""

    name = "none"
    free = True

    def propose(self, rows: list[DraftRow], ctx: DraftContext) -> list[list[int]]:
        return [[] for _ in rows]
