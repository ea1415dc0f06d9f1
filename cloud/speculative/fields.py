"""Which JSON field a character of the answer fills: LVSpec's anchor identification.

LVSpec (arXiv 2604.05650) verifies "visual-relevant anchor" tokens exactly and
the rest loosely. For an alert answer the cheapest reliable identification is
structural: the values of semantic fields (object label, count, threat level,
action) are anchors, the free-text summary and the JSON punctuation are
fillers, except for words that name what was seen (colours, numbers, places,
object classes, actions) and digits, which are anchors wherever they appear
in a value ("3 red cars" in a free-text summary: "3" is not a filler), and
the token that ends a value (a closing quote, a number's delimiter): where a
free-text summary stops is the target's call, or a loosely accepted "." + " A"
runs the sentence on to the token budget.

`JsonFieldTracker` is a character-level state machine over compact JSON (the
grammar forbids free whitespace). `value_key` is the key whose value the next
character belongs to: the opening quote, the content, the closing quote of a
string value, and for numbers and literals the delimiter that ends them (that
character decides the value's length: "2" + "," vs "23"). Pure Python, no torch.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class _Frame:
    kind: str                  # "obj" | "arr"
    key: str | None = None     # obj: the key being / last written
    expect: str = "key"        # obj: key | colon | value | comma ; arr: value | comma


@dataclass
class JsonFieldTracker:
    stack: list[_Frame] = field(default_factory=list)
    mode: str = "normal"       # normal | key | string | scalar
    escape: bool = False
    key_buf: str = ""

    def copy(self) -> "JsonFieldTracker":
        return copy.deepcopy(self)

    def _owner_key(self) -> str | None:
        """Key of the value now being written (an array's elements take the array's key)."""
        for frame in reversed(self.stack):
            if frame.kind == "obj":
                return frame.key
        return None

    @property
    def value_key(self) -> str | None:
        if self.mode in ("string", "scalar"):
            return self._owner_key()
        if self.mode == "normal" and self.stack and self.stack[-1].expect == "value":
            return self._owner_key()
        return None

    def feed(self, text: str) -> list[str | None]:
        """Consume `text`; return the value key each character belonged to."""
        out = []
        for ch in text:
            out.append(self.value_key)
            self._step(ch)
        return out

    def closes_value(self, text: str) -> bool:
        """Whether `text`, fed from this state, ends a string or scalar value (its closing
        quote or delimiter): where an answer or sentence stops is never a filler."""
        probe = self.copy()
        for ch in text:
            before = probe.mode
            probe._step(ch)
            if before in ("string", "scalar") and probe.mode == "normal":
                return True
        return False

    def _value_done(self) -> None:
        if self.stack:
            self.stack[-1].expect = "comma"

    def _step(self, ch: str) -> None:
        if self.mode in ("key", "string"):
            if self.escape:
                self.escape = False
                if self.mode == "key":
                    self.key_buf += ch
            elif ch == "\\":
                self.escape = True
            elif ch == '"':
                if self.mode == "key":
                    self.stack[-1].key, self.stack[-1].expect = self.key_buf, "colon"
                else:
                    self._value_done()
                self.mode = "normal"
            elif self.mode == "key":
                self.key_buf += ch
            return
        if self.mode == "scalar":
            if ch not in ",]}":
                return
            self.mode = "normal"
            self._value_done()
        top = self.stack[-1] if self.stack else None
        if ch == "{":
            self.stack.append(_Frame("obj"))
        elif ch == "[":
            self.stack.append(_Frame("arr", expect="value"))
        elif ch in "}]":
            if self.stack:
                self.stack.pop()
            self._value_done()
        elif ch == '"':
            if top is not None and top.kind == "obj" and top.expect == "key":
                self.mode, self.key_buf = "key", ""
            else:
                self.mode = "string"
        elif ch == ":":
            if top is not None:
                top.expect = "value"
        elif ch == ",":
            if top is not None:
                top.expect = "key" if top.kind == "obj" else "value"
        else:
            self.mode = "scalar"


def token_is_anchor(tracker: JsonFieldTracker, text: str, anchor_fields: frozenset[str],
                    anchor_terms: frozenset[str], tail: str = "") -> bool:
    """Whether a token with `text`, written at `tracker`'s state, touches an anchor.

    `tail` is the answer's text just before this token: a term split across tokens
    ("bl" + "ue") is caught by looking at the word the token continues.
    """
    keys = tracker.copy().feed(text)
    if any(k in anchor_fields for k in keys if k is not None):
        return True
    if tracker.closes_value(text):
        return True
    in_value = [ch for ch, k in zip(text, keys) if k is not None]
    if any(ch.isdigit() for ch in in_value):
        return True
    if anchor_terms and in_value:
        last = _WORD.findall(tail[-16:])
        lead = last[-1] if last and tail and tail[-1].isalpha() and text[:1].isalpha() else ""
        for word in _WORD.findall(lead + text):
            w = word.lower()
            if any(term.startswith(w) or w.startswith(term) for term in anchor_terms):
                return True
    return False
