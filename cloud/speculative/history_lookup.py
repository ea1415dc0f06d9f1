"""Retrieval drafting from the engine's own recent answers.

REST (He et al., "REST: Retrieval-Based Speculative Decoding", NAACL 2024)
drafts from a datastore of text instead of a model. Alert answers of one
deployment repeat their shape and much of their wording (the JSON keys, the
usual threat level, the closing brackets, the vocabulary of places and
actions), so the datastore here is the last `capacity` answers the engine
finished, read as an n-gram model:

- counts of the token that followed every n-gram (n = ngram_min..ngram_max)
  of the stored answers;
- a draft extends the answer so far greedily: the longest suffix n-gram with
  counts proposes its most frequent follower (ties: the one seen last), and
  so on, up to k tokens; no match at any n ends the draft.

Where REST retrieves from a suffix array over a corpus, ours is a dict of
counters, updated when an answer finishes and decremented when it ages out,
so a look-up is a few dict reads per drafted token. The datastore starts
empty and learns only from answers the target itself produced.
"""
from __future__ import annotations

from collections import Counter, deque

from cloud.speculative.drafter import DraftContext, Drafter, DraftRow


class AnswerNgrams:
    """Follower counts of every n-gram in the last `capacity` answers."""

    def __init__(self, capacity: int, ngram_max: int, ngram_min: int = 1):
        self.capacity = capacity
        self.ngram_max = ngram_max
        self.ngram_min = ngram_min
        self.answers: deque[list[int]] = deque()
        self.follow: dict[tuple[int, ...], Counter] = {}
        self.last_seen: dict[tuple[tuple[int, ...], int], int] = {}
        self.added = 0

    def _grams(self, answer: list[int]):
        for i in range(1, len(answer)):
            for n in range(self.ngram_min, min(self.ngram_max, i) + 1):
                yield tuple(answer[i - n:i]), answer[i]

    def add(self, answer: list[int]) -> None:
        self.added += 1
        self.answers.append(list(answer))
        for gram, nxt in self._grams(answer):
            self.follow.setdefault(gram, Counter())[nxt] += 1
            self.last_seen[(gram, nxt)] = self.added
        if len(self.answers) > self.capacity:
            for gram, nxt in self._grams(self.answers.popleft()):
                counts = self.follow[gram]
                counts[nxt] -= 1
                if counts[nxt] <= 0:
                    del counts[nxt]
                    self.last_seen.pop((gram, nxt), None)
                if not counts:
                    del self.follow[gram]

    def next_token(self, context: list[int]) -> int | None:
        """Most frequent follower of the longest suffix n-gram of `context` that was seen."""
        for n in range(min(self.ngram_max, len(context)), self.ngram_min - 1, -1):
            gram = tuple(context[len(context) - n:])
            counts = self.follow.get(gram)
            if counts:
                return max(counts, key=lambda t: (counts[t], self.last_seen.get((gram, t), 0)))
        return None

    def draft(self, context: list[int], k: int) -> list[int]:
        out: list[int] = []
        ctx = list(context)
        while len(out) < k:
            tok = self.next_token(ctx)
            if tok is None:
                break
            out.append(tok)
            ctx.append(tok)
        return out


class HistoryDrafter(Drafter):
    name = "history"
    free = True

    def __init__(self, capacity: int = 256, ngram_max: int = 3, ngram_min: int = 1):
        self.store = AnswerNgrams(capacity, ngram_max, ngram_min)

    def propose(self, rows: list[DraftRow], ctx: DraftContext) -> list[list[int]]:
        return [self.store.draft(r.committed + r.prefix, r.k) if r.k > 0 else [] for r in rows]

    def observe(self, seq_id: str, answer: list[int]) -> None:
        if answer:
            self.store.add(answer)
