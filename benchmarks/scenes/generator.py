"""Procedural camera-like scenes with known answers (the benchmark VLM's task).

A scene is one group of identical objects: a class (person, car, bicycle, bag,
dog), a colour (six), a count (0-6), a place (near/far x left/centre/right:
the group's instances all stand in one third of the width, high and small when
far, low and large when near) and an action (still, moving left, moving right:
motion streaks trail each moving instance, as motion blur does). Some
instances are partly hidden behind a grey post. Backgrounds are plain walls,
gradients, noise textures, roads, or real frames of the Big Buck Bunny clip
(a grassy hill, no people or cars), dimmed so objects stay visible.

The answer is written in the alert schema (cloud/answer/schema.py) as compactly as it
allows: `summary` carries the place ("near left"), `objects` one
{"label": "<colour> <class>", "count": n}, `action` the action; an empty
scene answers {"summary": "empty", "objects": [], "action": "none"}.

Splits are disjoint by construction: every scene's random stream is keyed by
(recipe version, split, seed, index), so no two splits share a stream, and the
real background frames are split by frame index (train: even frames,
val/test: odd frames), so no test background is ever seen in training.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from benchmarks.scenes import render

RECIPE_VERSION = 1
SPLITS = ("train", "val", "test")
CLASSES = ("person", "car", "bicycle", "bag", "dog")
COLOURS = tuple(render.COLOURS)
MAX_COUNT = 6
EMPTY_PROBABILITY = 0.06        # share of scenes with nothing in them (count 0)
SIDES = ("left", "centre", "right")
DEPTHS = ("near", "far")
POSITIONS = tuple(f"{d} {s}" for d in DEPTHS for s in SIDES)
ACTIONS = ("still", "moving left", "moving right")
EMPTY_PLACE, EMPTY_ACTION, NONE = "empty", "none", "none"
# A person's box height (px) at each depth, and the band (px) where the group's feet stand.
PERSON_HEIGHT = {"far": (34, 50), "near": (60, 84)}
FEET_BAND = {"far": (95, 185), "near": (215, 330)}
MAX_OVERLAP = 0.12              # IoU allowed between two instances of a group
PLACEMENT_TRIES = 60
OCCLUDED_PROBABILITY = 0.25     # chance one instance of a scene is partly behind a post
OCCLUDER_MAX_FRACTION = 0.4
BACKGROUND_CLIP = "bigbuckbunny.mp4"
BACKGROUND_FRAMES = 24          # frames read from the clip (every 5th), split by parity


@dataclass
class Scene:
    """One rendered scene and its answer.

    image: RGB uint8 (336, 336, 3), LLaVA-1.5 geometry.
    truth: the answer in the alert schema (see the module docstring).
    boxes: one [x1, y1, x2, y2] pixel box per instance (streaks included, occluders not subtracted).
    mask: int16 (336, 336): instance id (1..n) of each visible object pixel, 0 elsewhere.
    """

    split: str
    index: int
    image: np.ndarray
    truth: dict
    boxes: list[list[int]] = field(default_factory=list)
    mask: np.ndarray | None = None


def recipe() -> dict:
    """Everything that decides the scenes; its hash keys the trained weights."""
    return {"version": RECIPE_VERSION, "classes": CLASSES, "colours": render.COLOURS, "max_count": MAX_COUNT,
            "empty": EMPTY_PROBABILITY, "positions": POSITIONS, "actions": ACTIONS,
            "person_height": PERSON_HEIGHT, "feet_band": FEET_BAND, "overlap": MAX_OVERLAP,
            "occluded": OCCLUDED_PROBABILITY, "aspect": render.ASPECT, "relative_height": render.RELATIVE_HEIGHT,
            "background_clip": BACKGROUND_CLIP, "background_frames": BACKGROUND_FRAMES}


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def truth_of(cls: str | None, colour: str | None, count: int, place: str | None, action: str | None) -> dict:
    if count == 0:
        return {"summary": EMPTY_PLACE, "threat_level": 0, "objects": [], "action": EMPTY_ACTION}
    return {"summary": place, "threat_level": 0, "objects": [{"label": f"{colour} {cls}", "count": count}],
            "action": action}


@lru_cache(maxsize=1)
def _all_background_frames() -> tuple[np.ndarray, ...]:
    try:
        from cloud.models.frames import sample_frames

        return tuple(sample_frames(BACKGROUND_CLIP, BACKGROUND_FRAMES, step=5))
    except Exception as exc:  # noqa: BLE001 - say what is missing, do not silently change the recipe
        raise RuntimeError(f"scene backgrounds need the sample clip {BACKGROUND_CLIP} "
                           f"(python -m vigil.footage): {exc}") from exc


def background_frames(split: str) -> list[np.ndarray]:
    frames = _all_background_frames()
    parity = 0 if split == "train" else 1
    return [f for i, f in enumerate(frames) if i % 2 == parity]


def _rng(split: str, seed: int, index: int) -> np.random.Generator:
    key = hashlib.sha256(f"{RECIPE_VERSION}/{split}/{seed}/{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(key[:8], "little"))


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _place(rng, cls: str, count: int, side: str, depth: str) -> list[tuple[int, int, int, int]]:
    """Boxes whose centres lie in the side's third and whose feet lie in the depth's band."""
    third = render.SIZE // 3
    x_lo = SIDES.index(side) * third
    scale = 1.0
    for _ in range(4):
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(count):
            for _ in range(PLACEMENT_TRIES):
                h = int(rng.uniform(*PERSON_HEIGHT[depth]) * render.RELATIVE_HEIGHT[cls] * scale)
                h = max(8, h)
                w = max(6, int(h * render.ASPECT[cls]))
                cx = int(rng.uniform(x_lo + 4, x_lo + third - 4))
                feet = int(rng.uniform(*FEET_BAND[depth]))
                box = (cx - w // 2, feet - h, cx - w // 2 + w, feet)
                box = (max(0, box[0]), max(0, box[1]), min(render.SIZE - 1, box[2]), min(render.SIZE - 1, box[3]))
                if all(_iou(box, b) <= MAX_OVERLAP for b in boxes):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) == count:
            return boxes
        scale *= 0.85  # crowded: shrink the group and try again
    raise RuntimeError(f"could not place {count} {cls} at {depth} {side}")


def render_scene(split: str, seed: int, index: int) -> Scene:
    rng = _rng(split, seed, index)
    img = render.background(rng, background_frames(split))
    mask = np.zeros(img.shape[:2], np.int16)
    count = 0 if rng.random() < EMPTY_PROBABILITY else int(rng.integers(1, MAX_COUNT + 1))
    cls = CLASSES[int(rng.integers(len(CLASSES)))]
    colour = COLOURS[int(rng.integers(len(COLOURS)))]
    side = SIDES[int(rng.integers(len(SIDES)))]
    depth = DEPTHS[int(rng.integers(len(DEPTHS)))]
    action = ACTIONS[int(rng.integers(len(ACTIONS)))]
    if count == 0:
        return Scene(split, index, img, truth_of(None, None, 0, None, None), [], mask)
    direction = {"still": 0, "moving left": -1, "moving right": 1}[action]
    facing = direction or int(rng.choice([-1, 1]))
    boxes = _place(rng, cls, count, side, depth)
    boxes.sort(key=lambda b: b[3])  # far (higher) instances first, nearer ones drawn over them
    out_boxes = []
    for ident, box in enumerate(boxes, start=1):
        render.draw_object(img, mask, ident, cls, colour, box, facing)
        if direction:
            box = render.draw_streaks(img, mask, ident, box, direction)
        out_boxes.append([int(v) for v in box])
    if rng.random() < OCCLUDED_PROBABILITY:
        victim = out_boxes[int(rng.integers(len(out_boxes)))]
        render.draw_occluder(img, mask, tuple(victim), rng, OCCLUDER_MAX_FRACTION)
    return Scene(split, index, img, truth_of(cls, colour, count, f"{depth} {side}", action), out_boxes, mask)


def make_scenes(split: str, n: int, seed: int = 0, start: int = 0) -> list[Scene]:
    """Scenes `start .. start+n-1` of `split` ("train", "val" or "test"); deterministic given seed."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [render_scene(split, seed, i) for i in range(start, start + n)]
