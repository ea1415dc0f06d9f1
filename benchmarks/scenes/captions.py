"""The free-text workload of the speculative benchmark: an alert sentence written from a scene's facts.

The benchmark VLM's structured answer has no filler tokens: every token the model
chooses is a scored field value, and the JSON between them is forced by the grammar.
LVSpec's loose verification acts on fillers, so it is measured a second time on free
text: SmolLM2-135M-Instruct (the benchmark VLM's language model, without its
adapters), text only, writes one sentence for a security guard from the scene's
truth ("2 red cars, far right, moving left"), under a one-field JSON schema.

Fidelity against ground truth is whether the sentence still says each fact
(`mentions`): the colour word, the class word, the count, both place words, the
action; a class, colour or count is wrong if the sentence also names another one
("... 6 yellow dogs ... a car accident": class wrong), so a run-on that invents
things is not scored as faithful. Pure Python: no model, no torch.
"""
from __future__ import annotations

import re

SYSTEM = "You write short alerts for a security guard."
MAX_NEW_TOKENS = 48
SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string", "minLength": 1, "maxLength": 200}},
    "required": ["summary"],
    "additionalProperties": False,
}
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


def question(truth: dict) -> str:
    return f"Camera saw: {facts(truth)}. Write a one-sentence alert."


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
