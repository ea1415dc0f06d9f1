"""Prompt lookup decoding (Saxena, 2023; vLLM's `ngram` proposer): copy what
followed the latest earlier occurrence of the answer's last n tokens.

The context is the prompt's text tokens (system prompt, the edge's labels,
counts, zone and camera name: the words an alert answer often repeats) followed
by the answer so far. The longest suffix n-gram (ngram_max down to ngram_min)
with an earlier occurrence wins; the most recent occurrence is used. Costs a
scan of a few hundred ints: free next to a model call.
"""
from __future__ import annotations

from cloud.speculative.drafter import DraftContext, Drafter, DraftRow


def lookup(context: list[int], k: int, ngram_max: int, ngram_min: int) -> list[int]:
    """Up to k tokens following the latest earlier match of context's suffix n-gram."""
    if k <= 0:
        return []
    size = len(context)
    for n in range(min(ngram_max, size - 1), ngram_min - 1, -1):
        tail = context[size - n:]
        for start in range(size - n - 1, -1, -1):
            if context[start:start + n] == tail:
                follow = context[start + n:start + n + k]
                if follow:
                    return follow
    return []


class PromptLookupDrafter(Drafter):
    name = "prompt_lookup"
    free = True

    def __init__(self, ngram_max: int = 3, ngram_min: int = 1):
        self.ngram_max = ngram_max
        self.ngram_min = ngram_min

    def propose(self, rows: list[DraftRow], ctx: DraftContext) -> list[list[int]]:
        return [lookup(r.context + r.prefix, r.k, self.ngram_max, self.ngram_min) for r in rows]
