"""A description from a model that cannot see the images says so, and says only what the edge measured.

Some models Vigil can run read the prompt but not the pixels: the model-free stub, the tiny random
test models, SmolLM2 with an untrained vision tower. Their English is fluent and invented ("a man
is shot at a police car"), so an alert must not carry it as if someone had looked. For such a model
the alert's description is rebuilt from the edge's measurements (object counts, zone, dwell), its
threat level stays at the floor (a guess is no ground to alarm anyone), and the alert names the
model and that it does not see (``Alert.model``), for the webhook, the page and the demo.

Pure functions of plain data; the engine says whether its model sees (``sees_images``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cloud.answer.narrative import counted, sentence, with_narrative
from cloud.answer.schema import MAX_LABEL_CHARS, MAX_OBJECTS, MAX_SUMMARY_CHARS

NO_THREAT = 0            # EventDescription.threat_level's floor ("normal")
MAX_COUNT = 99           # ObjectCount.count's bound
NOT_SEEING_NOTE = "this model cannot see images: the description is what the edge measured"


@dataclass(frozen=True)
class ModelCard:
    """Who wrote a description, as the alert shows it."""
    name: str
    sees_images: bool

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.sees_images:
            out["note"] = NOT_SEEING_NOTE
        return out


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _counts(labels: dict[str, int], hints: dict[str, Any]) -> list[tuple[str, int]]:
    """(label, count) the edge counted, most numerous first (the hints' counts, else the alert's labels)."""
    counts = {str(k): int(v) for k, v in (hints.get("counts") or labels or {}).items() if int(v) > 0}
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def measured_summary(labels: dict[str, int], hints: dict[str, Any]) -> str:
    """One sentence of what the edge measured: "Edge detected 2 × person, 1 × car in zone drive for 4.0 s"."""
    seen = ", ".join(f"{n} × {label}" for label, n in _counts(labels, hints))
    text = "Edge detected " + (seen or "motion")
    if hints.get("zone"):
        text += f" in zone {hints['zone']}"
    dwell = float(hints.get("dwell_seconds") or 0.0)
    if dwell > 0:
        text += f" for {_seconds(dwell)}"
    return text[:MAX_SUMMARY_CHARS]


def measured_narrative(labels: dict[str, int], hints: dict[str, Any]) -> str:
    """The narrative in plain words, from the measurements only: "The edge detected 2 people and 1 car
    in zone drive for 4.0 s." """
    text = "the edge detected " + (counted(_counts(labels, hints)) or "motion")
    if hints.get("zone"):
        text += f" in zone {hints['zone']}"
    dwell = float(hints.get("dwell_seconds") or 0.0)
    if dwell > 0:
        text += f" for {_seconds(dwell)}"
    return sentence(text)


def measured_description(labels: dict[str, int], hints: dict[str, Any]) -> dict[str, Any]:
    """An EventDescription-shaped dict built from the edge's measurements only."""
    objects = [{"label": label[:MAX_LABEL_CHARS], "count": min(MAX_COUNT, n)}
               for label, n in _counts(labels, hints)[:MAX_OBJECTS]]
    return {"summary": measured_summary(labels, hints), "threat_level": NO_THREAT, "objects": objects, "action": "",
            "narrative": measured_narrative(labels, hints)}


def honest_description(description: dict[str, Any], card: ModelCard | None, *, labels: dict[str, int],
                       hints: dict[str, Any]) -> dict[str, Any]:
    """`description` as the alert should carry it: from an unknown model, as given; from a model that
    sees, as written, with a narrative composed from its fields where it wrote none
    (cloud/answer/narrative.py); rebuilt from the edge's measurements, threat at the floor, when the
    model cannot see."""
    if card is None:
        return description
    if card.sees_images:
        return with_narrative(description)
    return measured_description(labels, hints)
