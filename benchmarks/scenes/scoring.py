"""Scoring an answer against a scene's truth, field by field.

Fields: class and colour (from the first object's label "<colour> <class>"),
count (the first object's count; 0 when `objects` is empty), position (the
summary, "near left" ...), action. `exact` is 1 when all five are right.
An empty scene's truth has class, colour, position and action "none"/"empty";
an answer with no objects scores class/colour/count as "none"/"none"/0.
Unparseable answers score 0 on every field.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

FIELDS = ("class", "colour", "count", "position", "action")
NONE = "none"


def fields_of(answer: str | dict) -> dict[str, object] | None:
    """The five field values of an answer (dict or JSON text); None if it does not parse."""
    if isinstance(answer, str):
        try:
            answer = json.loads(answer, strict=False)
        except json.JSONDecodeError:
            return None
    if not isinstance(answer, dict):
        return None
    objects = answer.get("objects") or []
    first = objects[0] if objects and isinstance(objects[0], dict) else {}
    words = str(first.get("label", "")).strip().lower().split()
    colour = words[0] if len(words) >= 2 else NONE
    cls = " ".join(words[1:]) if len(words) >= 2 else (words[0] if words else NONE)
    try:
        count = int(first.get("count", 0)) if first else 0
    except (TypeError, ValueError):
        count = -1
    return {"class": cls, "colour": colour, "count": count,
            "position": str(answer.get("summary", "")).strip().lower(),
            "action": str(answer.get("action", "")).strip().lower()}


def field_scores(answer: str | dict, truth: dict) -> dict[str, float]:
    """Per-field accuracy (1.0 or 0.0) of one answer, plus `exact`."""
    got, want = fields_of(answer), fields_of(truth)
    if want is None:
        raise ValueError("truth does not parse")
    if got is None:
        scores = {f: 0.0 for f in FIELDS}
    else:
        scores = {f: float(got[f] == want[f]) for f in FIELDS}
    scores["exact"] = float(all(scores[f] == 1.0 for f in FIELDS))
    return scores


def mean_scores(all_scores: Iterable[dict[str, float]]) -> dict[str, float]:
    """Mean of each field over scenes, and `field_accuracy` = mean of the five fields."""
    rows = list(all_scores)
    if not rows:
        return {}
    out = {k: sum(r[k] for r in rows) / len(rows) for k in (*FIELDS, "exact")}
    out["field_accuracy"] = sum(out[f] for f in FIELDS) / len(FIELDS)
    return out


def majority_answer(truths: Iterable[dict]) -> dict[str, object]:
    """The most common value of each field over `truths` (the chance baseline's answer)."""
    values = [fields_of(t) for t in truths]
    return {f: Counter(v[f] for v in values).most_common(1)[0][0] for f in FIELDS}


def chance_scores(truths: list[dict]) -> dict[str, float]:
    """Scores of always answering each field's most common value."""
    best = majority_answer(truths)
    rows = []
    for t in truths:
        want = fields_of(t)
        row = {f: float(best[f] == want[f]) for f in FIELDS}
        row["exact"] = float(all(row[f] == 1.0 for f in FIELDS))
        rows.append(row)
    return mean_scores(rows)
