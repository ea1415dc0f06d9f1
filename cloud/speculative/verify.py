"""Verifiers: does the target accept a drafted token at one position?

Both see the target's grammar-masked logits at that position (the same masking,
close-steering included, that plain decoding applies), the drafted token and
the target's own greedy choice.

- `StrictVerifier`: accept only the target's greedy choice (Leviathan et al.'s
  greedy case; gpt-fast's `speculative_decode` at temperature 0), so the answer
  equals plain greedy decoding token for token.
- `LooseVerifier` (LVSpec, arXiv 2604.05650): anchors need the exact token; a
  filler is accepted when the target ranks it in its top-k or gives it at least
  `prob_ratio` of its greedy choice's probability. The paper leaves the filler
  test open; we offer both (either passing suffices) because the top-k test is
  rank-only and the ratio test catches near ties in a flat distribution. Whether
  a token is an anchor is asked lazily, only when the exact test failed.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch


class Verifier(ABC):
    name: str = "base"
    loose: bool = False

    @abstractmethod
    def accept(self, logits: torch.Tensor, draft: int, target: int,
               is_anchor: Callable[[], bool]) -> bool:
        """Accept `draft` where the target's masked `logits` [V] pick `target`?"""


class StrictVerifier(Verifier):
    name = "strict"

    def accept(self, logits, draft, target, is_anchor) -> bool:
        return draft == target


class LooseVerifier(Verifier):
    name = "loose"
    loose = True

    def __init__(self, top_k: int, prob_ratio: float):
        self.top_k = top_k
        self.prob_ratio = prob_ratio

    def accept(self, logits, draft, target, is_anchor) -> bool:
        if draft == target:
            return True
        score = logits[draft]
        if not torch.isfinite(score):     # grammar-illegal: never
            return False
        ranked = int((logits > score).sum()) < self.top_k
        near = self.prob_ratio > 0 and float(torch.exp(score - logits[target])) >= self.prob_ratio
        if not (ranked or near):
            return False
        return not is_anchor()


def build_verifier(config) -> Verifier:
    if config.mode == "loose":
        return LooseVerifier(config.top_k, config.prob_ratio)
    return StrictVerifier()
