"""Stage-1 targets of recipe v2 (two groups, multi-frame events) for benchmarks/scenes/train.py.

The tower sees one frame at a time, so each frame gets its own per-patch targets: a patch
covered by an instance (>= OBJECT_COVER of its pixels) learns that instance's group's class,
colour, count and place, and its role (main group = the larger one, or second); a patch no
instance touches learns "background" (distractors and posts included: they are no class);
a partly covered patch is ignored. Motion cannot be read from one frame, so no patch or
[CLS] target speaks of the action: the language model learns it across the frames' tokens
in stage 2. [CLS] learns both groups' attributes and the main group's place.
"""
from __future__ import annotations

import numpy as np

from benchmarks.scenes import generator as v1
from benchmarks.scenes.events import Event

IGNORE = -100
GRID, PATCH = 24, 14
PATCH_HEADS = {"class": 1 + len(v1.CLASSES), "colour": len(v1.COLOURS), "count": v1.MAX_COUNT,
               "position": len(v1.POSITIONS), "role": 2}
CLS_HEADS = {"class": 1 + len(v1.CLASSES), "colour": 1 + len(v1.COLOURS), "count": 1 + v1.MAX_COUNT,
             "position": 1 + len(v1.POSITIONS), "class2": 1 + len(v1.CLASSES), "colour2": 1 + len(v1.COLOURS),
             "count2": 1 + v1.MAX_COUNT}
# The answer word each patch-head output stands for (the projector's second layer starts there).
PROJECTOR_WORDS = (["nothing"] + list(v1.CLASSES) + list(v1.COLOURS) + [str(c) for c in range(1, v1.MAX_COUNT + 1)]
                   + list(v1.POSITIONS) + ["first", "second"])


def _group_attrs(event: Event) -> list[dict]:
    out = []
    for role, obj in enumerate(event.truth["objects"]):
        colour, cls = obj["label"].split(" ", 1)
        out.append({"class": v1.CLASSES.index(cls), "colour": v1.COLOURS.index(colour), "count": obj["count"]})
    return out


def _group_position(event: Event, role: int) -> int:
    """Index of a group's place (its instances' middle-frame boxes: the main one is the truth's summary)."""
    if role == 0:
        return v1.POSITIONS.index(event.truth["summary"])
    boxes = [b for b, g in zip(event.boxes[len(event.boxes) // 2], event.group_of) if g == role]
    cx = float(np.median([(b[0] + b[2]) / 2 for b in boxes]))
    feet = float(np.median([b[3] for b in boxes]))
    side = v1.SIDES[min(2, int(cx // (GRID * PATCH // 3)))]
    depth = "near" if feet >= v1.FEET_BAND["near"][0] else "far"
    return v1.POSITIONS.index(f"{depth} {side}")


def event_labels(event: Event, object_cover: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame per-patch targets (F, 576, 5) and the event's [CLS] targets (7,)."""
    groups = _group_attrs(event)
    pos = [_group_position(event, r) for r in range(len(groups))]
    main, second = groups
    cls_t = np.array([1 + main["class"], 1 + main["colour"], main["count"], 1 + pos[0],
                      1 + second["class"], 1 + second["colour"], second["count"]])
    out = np.full((len(event.masks), GRID * GRID, len(PATCH_HEADS)), IGNORE, np.int64)
    roles = np.asarray(event.group_of)
    for f, mask in enumerate(event.masks):
        cells = mask.reshape(GRID, PATCH, GRID, PATCH).transpose(0, 2, 1, 3).reshape(GRID * GRID, PATCH * PATCH)
        cover = (cells > 0).mean(axis=1)
        out[f, cover == 0, 0] = 0
        for role, g in enumerate(groups):
            in_group = np.isin(cells, np.flatnonzero(roles == role) + 1).mean(axis=1)
            hit = (cover >= object_cover) & (in_group >= 0.5 * cover)
            out[f, hit] = [1 + g["class"], g["colour"], g["count"] - 1, pos[role], role]
    return out, cls_t
