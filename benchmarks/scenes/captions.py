"""The narrative workload of the speculative benchmark: the alert's free-text field, on the product path.

The benchmark VLM's structured answer has no filler tokens: every token the model
chooses is a scored field value, and the JSON between them is forced by the grammar.
LVSpec's loose verification acts on fillers, so it is measured where the product has
free text: the alert's `narrative` (cloud/answer/schema.py), written last, after the
facts. Each scene becomes the request the edge would send (`scene_request`): the frame,
the object group's boxes labelled with colour and class, its count, the place as the
zone, the action as the rule that fired; the engine's prompt builder and the alert
schema with the narrative do the rest (benchmarks/spec.py --workload narrative).

Fidelity against ground truth is whether the narrative still says each fact
(`mentions`): the colour word, the class word, the count, both place words, the
action; a class, colour or count is wrong if the sentence also names another one
("... 6 yellow dogs ... a car accident": class wrong), so a run-on that invents
things is not scored as faithful. `retained`: of the facts one answer says, the share
another still says (loose against the autoregressive answer, scene by scene). Pure
Python: no model, no torch.
"""
from __future__ import annotations

import re

CAMERA_NAME = "Yard"
DETECTOR_SCORE = 0.9     # the edge's confidence written beside each box (the scenes have no detector)
FIELDS = ("class", "colour", "count", "position", "action")
PLURALS = {"person": "people", "bus": "buses"}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_WORD = re.compile(r"[a-z0-9]+")


def plural(cls: str, count: int) -> str:
    return cls if count == 1 else PLURALS.get(cls, cls + "s")


def facts(truth: dict) -> str:
    """The scene's truth as the short fact line the writer is given."""
    objects = truth.get("objects") or []
    if not objects:
        return "nothing"
    colour, cls = objects[0]["label"].split(" ", 1)
    count = int(objects[0]["count"])
    return f"{count} {colour} {plural(cls, count)}, {truth['summary']}, {truth['action']}"


def scene_hints(truth: dict) -> dict:
    """The edge's hints for a scene: the group counted under its colour and class, the place as the zone,
    the action as the rule that fired."""
    hints: dict = {"camera_name": CAMERA_NAME, "rule": truth.get("action") or "motion"}
    objects = truth.get("objects") or []
    if objects:
        hints["counts"] = {objects[0]["label"]: int(objects[0]["count"])}
        hints["zone"] = truth["summary"]
    return hints


def scene_request(scene, index: int):
    """The DescribeRequest the edge would send for `scene` (its frame, boxes and hints)."""
    from cloud.answer.request import DescribeRequest

    objects = scene.truth.get("objects") or []
    label = objects[0]["label"] if objects else "object"
    detections = [{"label": label, "score": DETECTOR_SCORE, "box": list(box)} for box in scene.boxes] if objects else []
    return DescribeRequest(request_id=f"s{index}", camera_id=f"s{index}", event_id=f"s{index}",
                           images=[scene.image], detections=detections, hints=scene_hints(scene.truth))


def retained(reference: list[dict[str, float]], other: list[dict[str, float]]) -> float | None:
    """Of the facts the reference answers say (scene by scene), the share the other answers still say."""
    said = kept = 0
    for ref, mine in zip(reference, other):
        for f in FIELDS:
            if ref.get(f) == 1.0:
                said += 1
                kept += int(mine.get(f) == 1.0)
    return kept / said if said else None


def _has(words: list[str], *wanted: str) -> bool:
    return any(w in words for w in wanted)


def mentions(summary: str, truth: dict) -> dict[str, float]:
    """Per-fact 1.0/0.0: does the sentence say it (and name no other class, colour or count)?
    An empty scene's sentence must name no class and no colour; `exact`: every fact said."""
    words = _WORD.findall(summary.lower())
    objects = truth.get("objects") or []
    if not objects:
        from benchmarks.scenes import CLASSES, COLOURS

        named = any(_has(words, c, plural(c, 2)) for c in CLASSES) or any(_has(words, c) for c in COLOURS)
        scores = {f: float(not named) for f in FIELDS}
    else:
        colour, cls = objects[0]["label"].split(" ", 1)
        count = int(objects[0]["count"])
        count_words = [str(count)] + ([NUMBER_WORDS[count]] if count < len(NUMBER_WORDS) else [])
        if count == 1:
            count_words += ["a", "an", "single"]
        depth, side = truth["summary"].split(" ", 1)
        sides = (side, "center") if side == "centre" else (side,)
        action = truth["action"]
        text = " ".join(words)
        if action == "still":
            said = _has(words, "still", "stationary", "standing", "parked", "stopped")
        else:
            direction = action.split()[-1]
            said = re.search(rf"\b(moving|moves|heading|going|walking|driving)\b(\s+\w+){{0,2}}\s+{direction}\b",
                             text) is not None
        from benchmarks.scenes import CLASSES, COLOURS

        other_class = any(_has(words, c, plural(c, 2)) for c in CLASSES if c != cls)
        other_colour = any(_has(words, c) for c in COLOURS if c != colour)
        other_count = any(w.isdigit() and w != str(count) for w in words)
        scores = {"class": float(_has(words, cls, plural(cls, 2)) and not other_class),
                  "colour": float(_has(words, colour) and not other_colour),
                  "count": float(_has(words, *count_words) and not other_count),
                  "position": float(_has(words, depth) and _has(words, *sides)), "action": float(said)}
    scores["exact"] = float(all(scores[f] == 1.0 for f in FIELDS))
    return scores
