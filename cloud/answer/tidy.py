"""Make a schema-valid description read well: clean object labels, a summary that ends at a sentence.

Constrained decoding guarantees the JSON's shape, not its prose. Two things reach users
otherwise: labels copied from the prompt's "person 0.93," detector list (score and comma
included), and summaries cut mid-word where the schema's length bound closed the string.
Rules (pure, applied once per answer by the engine):
- a label keeps letters and single spaces only, lower case; labels that end up empty are
  dropped and equal labels merge (counts add, capped at the schema's bound);
- an action without a single letter (a run of digits) is emptied;
- a summary not ending in . ! ? is cut after its last complete sentence when that keeps
  at least MIN_SENTENCE_CHARS, else after its last whole word with an ellipsis (honest: text was cut);
  a short phrase (at most PHRASE_MAX_CHARS, "far right", "two people at the gate") is a whole
  answer, not cut prose, and is kept as it is.
"""
from __future__ import annotations

import re

from cloud.answer.schema import EventDescription, ObjectCount

MIN_SENTENCE_CHARS = 20       # a shorter first sentence says too little: keep the words instead
PHRASE_MAX_CHARS = 32         # a summary this short without a sentence end is a phrase, not cut prose
MAX_COUNT = 99                # the schema's bound on ObjectCount.count
SENTENCE_END = ".!?"
ELLIPSIS = "…"
_NOT_LABEL = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")


def clean_label(label: str) -> str:
    return _SPACES.sub(" ", _NOT_LABEL.sub(" ", label.lower())).strip()


def end_at_sentence(text: str) -> str:
    text = _SPACES.sub(" ", text).strip()
    if not text or text[-1] in SENTENCE_END or len(text) <= PHRASE_MAX_CHARS:
        return text
    last = max(text.rfind(c) for c in SENTENCE_END)
    if last + 1 >= MIN_SENTENCE_CHARS:
        return text[:last + 1]
    words = text.rsplit(" ", 1)[0] if " " in text else text
    return words.rstrip(",;:-– ") + ELLIPSIS


def tidy_description(d: EventDescription) -> EventDescription:
    merged: dict[str, int] = {}
    for obj in d.objects:
        label = clean_label(obj.label)
        if label:
            merged[label] = min(MAX_COUNT, merged.get(label, 0) + obj.count)
    summary = end_at_sentence(d.summary) or d.summary
    action = _SPACES.sub(" ", d.action).strip()
    if not _LETTER.search(action):
        action = ""     # digits or punctuation only: nothing a person can read
    return d.model_copy(update={"summary": summary, "action": action,
                                "objects": [ObjectCount(label=k, count=v) for k, v in merged.items()]})
