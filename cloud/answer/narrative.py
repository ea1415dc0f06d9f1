"""The alert's narrative when the model wrote none: one plain sentence composed from the facts.

A model that writes the narrative is made to by the grammar (cloud/answer/schema.py). A model
that does not (the benchmark VLM: `ModelAdapter.writes_narrative` False) still answers the
facts, and a person still reads a sentence first: "2 green dogs, far right, moving right."
Nothing is added that the facts do not say. Pure functions of plain data.
"""
from __future__ import annotations

from typing import Any, Iterable

from cloud.answer.schema import MAX_NARRATIVE_CHARS, MAX_OBJECTS, NARRATIVE

IRREGULAR_PLURALS = {"person": "people", "man": "men", "woman": "women", "child": "children",
                     "bus": "buses", "box": "boxes"}
SENTENCE_END = ".!?"
# A summary of this many words reads as a sentence ("a man walks to the door"); fewer is a phrase
# of facts ("far right", "empty") that the objects and action complete.
SENTENCE_MIN_WORDS = 4


def plural(label: str, count: int) -> str:
    """"dog" -> "dogs" for a count other than one; the last word of a label is the noun."""
    if count == 1 or not label:
        return label
    head, _, noun = label.rpartition(" ")
    noun = IRREGULAR_PLURALS.get(noun, noun if noun.endswith("s") else noun + "s")
    return f"{head} {noun}" if head else noun


def counted(objects: Iterable[tuple[str, int]]) -> str:
    """"2 people and 1 car" (at most MAX_OBJECTS kinds, in the order given)."""
    parts = [f"{n} {plural(label, n)}" for label, n in list(objects)[:MAX_OBJECTS] if label]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def sentence(*pieces: str) -> str:
    """The non-empty pieces joined with commas, capitalised, ended with a full stop, within bounds."""
    text = ", ".join(p.strip().rstrip(SENTENCE_END + ",;: ") for p in pieces if p and p.strip())
    if not text:
        return ""
    text = text[0].upper() + text[1:] + "."
    if len(text) > MAX_NARRATIVE_CHARS:
        text = text[:MAX_NARRATIVE_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;: ") + "…"
    return text


def narrative_from_fields(description: dict[str, Any]) -> str:
    """The sentence a description's own fields say. A summary that is already a sentence is it;
    a short phrase ("far right") is joined with the objects and the action:
    "2 green dogs, far right, moving right." """
    summary = str(description.get("summary") or "").strip()
    if summary and (summary[-1] in SENTENCE_END or len(summary.split()) >= SENTENCE_MIN_WORDS):
        return sentence(summary)
    objects = [(str(o.get("label", "")), int(o.get("count", 0))) for o in description.get("objects") or []
               if isinstance(o, dict)]
    return sentence(counted(objects), summary, str(description.get("action") or ""))


def with_narrative(description: dict[str, Any]) -> dict[str, Any]:
    """`description` with its narrative, composed from its fields where the model wrote none."""
    if str(description.get(NARRATIVE) or "").strip():
        return description
    return {**description, NARRATIVE: narrative_from_fields(description)}
