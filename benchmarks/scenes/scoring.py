"""Scoring an answer against a scene's truth, field by field.

Fields: class and colour (from the first object's label "<colour> <class>"),
count (the first object's count; 0 when `objects` is empty), position (the
summary, "near left" ...), action. `exact` is 1 when all five are right.
An empty scene's truth has class, colour, position and action "none"/"empty";
an answer with no objects scores class/colour/count as "none"/"none"/0.
Unparseable answers score 0 on every field.

Recipe v2 (two groups per event, benchmarks/scenes/events.py) adds the second object's
class, colour and count (class2, colour2, count2; "none"/"none"/0 when the answer lists one
object): eight fields. `counts` (both groups' counts right) is reported on its own beside the
eight, and is not one of them (it would count the count fields twice in the mean).
Every function takes `recipe` (1 by default: v1's results are scored as they always were).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

FIELDS = ("class", "colour", "count", "position", "action")
FIELDS_V2 = ("class", "colour", "count", "class2", "colour2", "count2", "position", "action")
NONE = "none"


def fields_for(recipe: int = 1) -> tuple[str, ...]:
    if recipe not in (1, 2):
        raise ValueError(f"recipe must be 1 or 2, got {recipe!r}")
    return FIELDS if recipe == 1 else FIELDS_V2


def _object_fields(obj: object) -> tuple[str, str, int]:
    """(class, colour, count) of one `objects` item ("none", "none", 0 when absent)."""
    first = obj if isinstance(obj, dict) else {}
    words = str(first.get("label", "")).strip().lower().split()
    colour = words[0] if len(words) >= 2 else NONE
    cls = " ".join(words[1:]) if len(words) >= 2 else (words[0] if words else NONE)
    try:
        count = int(first.get("count", 0)) if first else 0
    except (TypeError, ValueError):
        count = -1
    return cls, colour, count


def fields_of(answer: str | dict, recipe: int = 1) -> dict[str, object] | None:
    """The field values of an answer (dict or JSON text); None if it does not parse."""
    if isinstance(answer, str):
        try:
            answer = json.loads(answer, strict=False)
        except json.JSONDecodeError:
            return None
    if not isinstance(answer, dict):
        return None
    objects = answer.get("objects") or []
    if not isinstance(objects, list):
        objects = []
    cls, colour, count = _object_fields(objects[0] if objects else None)
    out = {"class": cls, "colour": colour, "count": count,
           "position": str(answer.get("summary", "")).strip().lower(),
           "action": str(answer.get("action", "")).strip().lower()}
    if fields_for(recipe) is FIELDS_V2:
        out["class2"], out["colour2"], out["count2"] = _object_fields(objects[1] if len(objects) > 1 else None)
    return out


def _row(got: dict | None, want: dict, fields: tuple[str, ...]) -> dict[str, float]:
    scores = {f: 0.0 for f in fields} if got is None else {f: float(got[f] == want[f]) for f in fields}
    scores["exact"] = float(all(scores[f] == 1.0 for f in fields))
    if fields is FIELDS_V2:
        scores["counts"] = float(scores["count"] == 1.0 and scores["count2"] == 1.0)
    return scores


def field_scores(answer: str | dict, truth: dict, recipe: int = 1) -> dict[str, float]:
    """Per-field accuracy (1.0 or 0.0) of one answer, plus `exact` (and `counts` for recipe 2)."""
    got, want = fields_of(answer, recipe), fields_of(truth, recipe)
    if want is None:
        raise ValueError("truth does not parse")
    return _row(got, want, fields_for(recipe))


def mean_scores(all_scores: Iterable[dict[str, float]], recipe: int = 1) -> dict[str, float]:
    """Mean of each field over scenes, and `field_accuracy` = mean of the recipe's fields."""
    rows = list(all_scores)
    if not rows:
        return {}
    fields = fields_for(recipe)
    extra = tuple(k for k in ("exact", "counts") if all(k in r for r in rows))   # agreement rows lack counts
    out = {k: sum(r[k] for r in rows) / len(rows) for k in (*fields, *extra)}
    out["field_accuracy"] = sum(out[f] for f in fields) / len(fields)
    return out


def majority_answer(truths: Iterable[dict], recipe: int = 1) -> dict[str, object]:
    """The most common value of each field over `truths` (the chance baseline's answer)."""
    values = [fields_of(t, recipe) for t in truths]
    return {f: Counter(v[f] for v in values).most_common(1)[0][0] for f in fields_for(recipe)}


def chance_scores(truths: list[dict], recipe: int = 1) -> dict[str, float]:
    """Scores of always answering each field's most common value."""
    best = majority_answer(truths, recipe)
    return mean_scores([_row(best, fields_of(t, recipe), fields_for(recipe)) for t in truths], recipe)
