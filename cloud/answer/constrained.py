"""JSON-schema constrained decoding with xgrammar (DAT's "output consistency").

The alert schema (`cloud.answer.schema.EventDescription`) is compiled once per
tokenizer into an xgrammar grammar; every sequence in a batch gets its own
`GrammarMatcher`, and each decoding step masks the batch's logits row by row
with the matchers' token bitmasks. Whatever the weights, the only tokens a
sequence can emit are those that keep its answer a valid prefix of a
schema-conforming JSON object, so a finished answer always parses.

Choices where the papers are vague:
- Compact JSON (`any_whitespace=False`, separators without spaces): fewer
  tokens per answer, and no runs of whitespace for a weak model to loop in.
- The schema is bounded (maxItems, maxLength, integer ranges), but bounds in
  characters do not bound tokens. So a sequence that nears its token budget is
  steered to close: within `close_reserve` tokens of the limit, tokens made only
  of closing characters get a large logit bonus, ranked by their first
  character: `"` (ends a string) over `]` (ends the array) over `}` (a brace
  is also an ordinary character inside a string, so it must not win there).
  Where the grammar forces a run of text (the keys after a closed string), a
  closing row takes the first token of that text's canonical tokenization
  (xgrammar's jump-forward string), not whatever split the model prefers: a
  model may spell `","threat_level":` in twice the tokens, and the reserve
  is sized for the canonical spelling. Grammar masking
  still applies first, so a closer is chosen only where it is legal, and the
  remaining keys are forced by the grammar. Every answer then terminates inside
  the budget as long as the reserve covers the forced tail (tested with random
  weights and a byte-level vocabulary, the worst case).
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import torch

try:
    import xgrammar as xgr
except ImportError:  # the rest of the engine still imports; compiling a grammar says what is missing
    xgr = None

from cloud.answer.schema import EventDescription, description_json_schema

JSON_SEPARATORS = (",", ":")
CLOSING_CHARS = frozenset('"]}')
CLOSER_RANK = {'"': 3.0, "]": 2.0, "}": 1.0}
# Logit bonus for closing tokens near the budget: larger than any logit spread.
CLOSE_BONUS = 1e4
FORCED_BONUS = 1e6   # the canonical token of a forced run beats every closer
# The longest forced tail: closing the summary, then the required keys with shortest values.
# With the narrative (required, last) a closing row may still open the optional action on the
# way (nothing ranks "n" over "a"), so its empty value is in the tail, then the narrative's key,
# one character of it and its closing quote.
FORCED_TAIL = '","threat_level":0,"objects":[]}'
FORCED_TAIL_NARRATIVE = '","threat_level":0,"objects":[],"action":"","narrative":"x"}'
ANSWER_OPENING = '{"summary":"x'   # forced up to the first value, and one character of it
# Slack over the tokenized tail: an escape or a multi-byte character may have to finish first.
TAIL_SLACK_TOKENS = 8


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class AnswerError(ValueError):
    """A generated answer is not a valid EventDescription (budget cut it off)."""


@dataclass(frozen=True)
class JsonGrammar:
    """A compiled JSON-schema grammar for one tokenizer and vocabulary size."""

    compiled: xgr.CompiledGrammar
    vocab_size: int
    closer_ids: torch.Tensor     # token ids made only of closing characters
    closer_bonus: torch.Tensor   # their logit bonus (by first character)
    stop_token_ids: tuple[int, ...]
    min_reserve: int             # tokens the forced tail needs in this vocabulary, with slack
    encode: Any                  # text -> token ids (no special tokens), for forced runs
    forced_tail: str = FORCED_TAIL

    @classmethod
    def compile(cls, tokenizer: Any, vocab_size: int | None = None,
                schema: dict | None = None, stop_token_ids: Sequence[int] | None = None,
                forced_tail: str = FORCED_TAIL) -> "JsonGrammar":
        """`schema` defaults to the alert schema without the narrative; `forced_tail` is the longest
        text the grammar forces after the first string closes (what the close reserve must hold)."""
        if xgr is None:
            raise ImportError("constrained decoding needs the xgrammar package (pip install xgrammar)")
        vocab_size = vocab_size or len(tokenizer)
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size,
            stop_token_ids=list(stop_token_ids) if stop_token_ids else None)
        compiler = xgr.GrammarCompiler(info, max_threads=1)
        compiled = compiler.compile_json_schema(
            json.dumps(schema or description_json_schema(narrative=False)),
            any_whitespace=False, separators=JSON_SEPARATORS)
        closer_ids, closer_bonus = _closers(tokenizer)
        return cls(compiled=compiled, vocab_size=vocab_size,
                   closer_ids=closer_ids, closer_bonus=closer_bonus,
                   stop_token_ids=tuple(info.stop_token_ids),
                   min_reserve=len(tokenizer.encode(forced_tail, add_special_tokens=False))
                   + TAIL_SLACK_TOKENS,
                   encode=lambda text: tokenizer.encode(text, add_special_tokens=False),
                   forced_tail=forced_tail)

    def shortest_answer_tokens(self) -> int:
        """Tokens of the shortest answer in this vocabulary: the opening up to the first value, one
        character of it, then the forced tail."""
        return len(self.encode(ANSWER_OPENING + self.forced_tail))

    def matcher(self) -> xgr.GrammarMatcher:
        return xgr.GrammarMatcher(self.compiled)


_GRAMMAR_CACHE: dict[tuple[int, int, bool], JsonGrammar] = {}
_GRAMMAR_LOCK = threading.Lock()


def grammar_for(tokenizer: Any, vocab_size: int | None = None,
                stop_token_ids: Sequence[int] | None = None, *, narrative: bool = False) -> JsonGrammar:
    """The alert-schema grammar for this tokenizer, compiled once per process. `narrative`: the
    model must write the narrative last; the engine passes its adapter's `writes_narrative`.
    Off by default, so a caller reproducing a model's trained compact answer gets exactly it."""
    key = (id(tokenizer), vocab_size or len(tokenizer), narrative)
    with _GRAMMAR_LOCK:
        if key not in _GRAMMAR_CACHE:
            _GRAMMAR_CACHE[key] = JsonGrammar.compile(
                tokenizer, vocab_size, schema=description_json_schema(narrative),
                stop_token_ids=stop_token_ids,
                forced_tail=FORCED_TAIL_NARRATIVE if narrative else FORCED_TAIL)
        return _GRAMMAR_CACHE[key]


def _closers(tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    ids, bonus = [], []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if text and set(text) <= CLOSING_CHARS:
            ids.append(token_id)
            bonus.append(CLOSE_BONUS * CLOSER_RANK[text[0]])
    return torch.tensor(ids, dtype=torch.long), torch.tensor(bonus, dtype=torch.float32)


class BatchConstraint:
    """Masks a batch of logits with one matcher per row; one bitmask buffer reused."""

    def __init__(self, grammar: JsonGrammar, close_reserve: int = 0):
        self.grammar = grammar
        # Never less than the forced tail needs, or closing would start too late.
        self.close_reserve = max(close_reserve, grammar.min_reserve)
        self._bitmask = xgr.allocate_token_bitmask(1, grammar.vocab_size)

    def _ensure(self, rows: int) -> torch.Tensor:
        if self._bitmask.shape[0] < rows:
            self._bitmask = xgr.allocate_token_bitmask(rows, self.grammar.vocab_size)
        return self._bitmask[:rows]

    def mask(self, logits: torch.Tensor, matchers: Sequence[xgr.GrammarMatcher],
             remaining: Sequence[int]) -> torch.Tensor:
        """Mask `logits` [B, V] in place (float32 CPU view returned) for the next token.

        `remaining[i]` is how many tokens row i may still emit, this one included.
        """
        rows = len(matchers)
        bitmask = self._ensure(rows)
        for i, matcher in enumerate(matchers):
            matcher.fill_next_token_bitmask(bitmask, i)
        logits = logits[:, : self.grammar.vocab_size].float()
        if logits.device.type != "cpu":
            bitmask_dev = bitmask.to(logits.device, non_blocking=True)
        else:
            bitmask_dev = bitmask
        closing = [i for i, r in enumerate(remaining) if r <= self.close_reserve]
        if closing and len(self.grammar.closer_ids):
            idx = torch.tensor(closing, device=logits.device)
            cols = self.grammar.closer_ids.to(logits.device)
            bonus = self.grammar.closer_bonus.to(logits.device)
            logits[idx.unsqueeze(1), cols.unsqueeze(0)] += bonus.unsqueeze(0)
            for i in closing:
                forced = matchers[i].find_jump_forward_string()
                if forced:
                    ids = self.grammar.encode(forced)
                    if ids and ids[0] < logits.shape[1]:
                        logits[i, ids[0]] += FORCED_BONUS  # masked out below if illegal
        xgr.apply_token_bitmask_inplace(logits, bitmask_dev)
        return logits


def parse_answer(text: str) -> EventDescription:
    """Parse a constrained answer; raise AnswerError naming why it failed."""
    try:
        # xgrammar's JSON strings admit raw control characters (only quote, backslash and
        # newlines are excluded), which strict json rejects; accept them, then blank them.
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"answer is not complete JSON ({exc.msg}): ...{text[-120:]!r}") from exc
    data = _clean_strings(data)
    try:
        return EventDescription.model_validate(data)
    except ValueError as exc:
        raise AnswerError(f"answer does not fit the alert schema: {exc}") from exc


def _clean_strings(value: Any) -> Any:
    # JSON escapes can encode lone surrogates, which no UTF-8 wire (protobuf) accepts.
    if isinstance(value, str):
        value = _CONTROL.sub(" ", value)
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean_strings(v) for k, v in value.items()}
    return value
