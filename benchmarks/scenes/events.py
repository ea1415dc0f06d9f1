"""Recipe v2: harder scenes, as multi-frame events of two object groups (recipe v1 stays in generator.py).

An event is FRAMES consecutive frames of one fixed camera. Each holds two groups of
identical objects, of two different classes, standing in two different thirds of the width:
the main group (the larger one: it has more members) and the second group. The main group
either stands still or walks left or right by the same few pixels every frame; nothing in a
single frame shows the motion (no streaks, and each group faces a random way whatever it does),
so the action can be read only across frames. The second group stands still. Clutter that
is no class (cones, signs, bins, in the objects' colours) stands in the scene as distractors,
and grey posts hide parts of some instances (a moving group passes behind a post).

The answer, in the alert schema: `summary` is the main group's place ("near left": all its
instances stay inside one third in every frame), `objects` holds one {label, count} per group,
the main group first, and `action` is the main group's motion:
  {"summary": "far right", "threat_level": 0,
   "objects": [{"label": "red person", "count": 4}, {"label": "blue car", "count": 2}],
   "action": "moving left"}

Streams are keyed by (recipe version 2, split, seed, index), so no v2 event shares a random
stream with a v1 scene, and backgrounds follow v1's split rule (train: even clip frames).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from benchmarks.scenes import generator as v1
from benchmarks.scenes import render

RECIPE_VERSION = 2
FRAMES = 3
# (main, second) counts: the main group is strictly larger, so "main" is visible in one frame.
COUNT_PAIRS = tuple((a, b) for a in range(2, v1.MAX_COUNT + 1) for b in range(1, a))
STEP_PX = (10, 16)              # how far a moving group walks per frame (a patch is 14 px)
DISTRACTORS = (1, 3)            # clutter items per event (inclusive)
DISTRACTOR_KINDS = ("cone", "sign", "bin")
OCCLUDERS = (0, 2)              # grey posts per event (inclusive), each over some instance
OCCLUDER_MAX_FRACTION = 0.45
FRAME_NOISE = 3.0               # sensor noise added to each frame on top of the shared background
GROUP_TRIES = 40


@dataclass
class Event:
    """One rendered event and its answer.

    frames: FRAMES RGB uint8 (336, 336, 3) images, in time order.
    truth: the answer in the alert schema (see the module docstring).
    boxes: per frame, one [x1, y1, x2, y2] per instance (main group's first).
    masks: per frame, int16 (336, 336): instance id (1..n) of each visible object pixel, 0 elsewhere.
    group_of: group (0 main, 1 second) of instance id i + 1.
    """

    split: str
    index: int
    frames: list[np.ndarray]
    truth: dict
    boxes: list[list[list[int]]] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    group_of: list[int] = field(default_factory=list)

    @property
    def image(self) -> np.ndarray:
        """The middle frame (what a single-image model would be shown)."""
        return self.frames[len(self.frames) // 2]


def recipe() -> dict:
    return {**v1.recipe(), "version": RECIPE_VERSION, "frames": FRAMES, "count_pairs": COUNT_PAIRS,
            "step_px": STEP_PX, "distractors": DISTRACTORS, "distractor_kinds": DISTRACTOR_KINDS,
            "occluders": OCCLUDERS, "occluder_max_fraction": OCCLUDER_MAX_FRACTION, "frame_noise": FRAME_NOISE}


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def truth_of(groups: list[dict], place: str, action: str) -> dict:
    return {"summary": place, "threat_level": 0,
            "objects": [{"label": f"{g['colour']} {g['cls']}", "count": g["count"]} for g in groups],
            "action": action}


def _rng(split: str, seed: int, index: int) -> np.random.Generator:
    key = hashlib.sha256(f"{RECIPE_VERSION}/{split}/{seed}/{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(key[:8], "little"))


def _shift(box, dx: int) -> tuple[int, int, int, int]:
    return (box[0] + dx, box[1], box[2] + dx, box[3])


def _clip(box) -> tuple[int, int, int, int]:
    s = render.SIZE - 1
    return (max(0, box[0]), max(0, box[1]), min(s, box[2]), min(s, box[3]))


def _place_group(rng, cls: str, count: int, side: str, depth: str, travel: int,
                 avoid: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]] | None:
    """Middle-frame boxes: centres inside the side's third even `travel` px to either side,
    feet in the depth's band, not overlapping each other nor `avoid` (the other group's swept boxes)."""
    third = render.SIZE // 3
    x_lo = v1.SIDES.index(side) * third
    scale = 1.0
    for _ in range(4):
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(count):
            for _ in range(v1.PLACEMENT_TRIES):
                h = max(8, int(rng.uniform(*v1.PERSON_HEIGHT[depth]) * render.RELATIVE_HEIGHT[cls] * scale))
                w = max(6, int(h * render.ASPECT[cls]))
                cx = int(rng.uniform(x_lo + 4 + travel, x_lo + third - 4 - travel))
                feet = int(rng.uniform(*v1.FEET_BAND[depth]))
                box = (cx - w // 2, feet - h, cx - w // 2 + w, feet)
                swept = (box[0] - travel, box[1], box[2] + travel, box[3])
                if (all(v1._iou(box, b) <= v1.MAX_OVERLAP for b in boxes)
                        and all(v1._iou(swept, a) <= v1.MAX_OVERLAP for a in avoid)):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) == count:
            return boxes
        scale *= 0.85
    return None


def _draw_distractor(img: np.ndarray, kind: str, colour: tuple[int, int, int], x: int, feet: int, h: int) -> None:
    import cv2

    w = max(6, h // 2)
    if kind == "cone":
        pts = np.array([[x - w // 2, feet], [x + w // 2, feet], [x, feet - h]], np.int32)
        cv2.fillPoly(img, [pts], colour)
        cv2.rectangle(img, (x - w // 2 - 2, feet - 3), (x + w // 2 + 2, feet), (40, 40, 40), -1)
    elif kind == "sign":
        cv2.rectangle(img, (x - 1, feet - h), (x + 1, feet), (90, 90, 90), -1)
        cv2.circle(img, (x, feet - h), max(4, w // 2), colour, -1)
    else:   # bin: a squat box with a darker lid
        cv2.rectangle(img, (x - w // 2, feet - int(0.7 * h)), (x + w // 2, feet), colour, -1)
        cv2.rectangle(img, (x - w // 2 - 2, feet - int(0.7 * h) - 3), (x + w // 2 + 2, feet - int(0.7 * h)),
                      (50, 50, 50), -1)


def _layout(rng) -> tuple[list[dict], int, str, str] | None:
    """Both groups' classes, colours, counts, places and middle-frame boxes, or None to redraw."""
    a, b = COUNT_PAIRS[int(rng.integers(len(COUNT_PAIRS)))]
    cls_main, cls_second = rng.choice(len(v1.CLASSES), size=2, replace=False)
    side_main, side_second = rng.choice(len(v1.SIDES), size=2, replace=False)
    action = v1.ACTIONS[int(rng.integers(len(v1.ACTIONS)))]
    direction = {"still": 0, "moving left": -1, "moving right": 1}[action]
    step = int(rng.integers(STEP_PX[0], STEP_PX[1] + 1)) if direction else 0
    groups = []
    for role, (count, cls_i, side_i) in enumerate(((a, cls_main, side_main), (b, cls_second, side_second))):
        groups.append({"role": role, "cls": v1.CLASSES[int(cls_i)],
                       "colour": v1.COLOURS[int(rng.integers(len(v1.COLOURS)))], "count": count,
                       "side": v1.SIDES[int(side_i)], "depth": v1.DEPTHS[int(rng.integers(len(v1.DEPTHS)))],
                       "facing": int(rng.choice([-1, 1])), "dx": direction * step if role == 0 else 0})
    travel = step * (FRAMES // 2)
    main = _place_group(rng, groups[0]["cls"], a, groups[0]["side"], groups[0]["depth"], travel, [])
    if main is None:
        return None
    swept = [(bx[0] - travel, bx[1], bx[2] + travel, bx[3]) for bx in main]
    second = _place_group(rng, groups[1]["cls"], b, groups[1]["side"], groups[1]["depth"], 0, swept)
    if second is None:
        return None
    groups[0]["boxes"], groups[1]["boxes"] = main, second
    return groups, travel, f"{groups[0]['depth']} {groups[0]['side']}", action


def render_event(split: str, seed: int, index: int) -> Event:
    rng = _rng(split, seed, index)
    background = render.background(rng, v1.background_frames(split)).astype(np.float32)
    for _ in range(GROUP_TRIES):
        laid = _layout(rng)
        if laid is not None:
            break
    else:
        raise RuntimeError(f"could not lay out event {split}/{seed}/{index}")
    groups, _, place, action = laid
    # static clutter and posts: drawn at the same place in every frame
    clutter = []
    for _ in range(int(rng.integers(DISTRACTORS[0], DISTRACTORS[1] + 1))):
        depth = v1.DEPTHS[int(rng.integers(len(v1.DEPTHS)))]
        clutter.append((DISTRACTOR_KINDS[int(rng.integers(len(DISTRACTOR_KINDS)))],
                        render.COLOURS[v1.COLOURS[int(rng.integers(len(v1.COLOURS)))]],
                        int(rng.integers(10, render.SIZE - 10)), int(rng.uniform(*v1.FEET_BAND[depth])),
                        int(rng.uniform(*v1.PERSON_HEIGHT[depth]) * 0.45)))
    instances = [(g, box) for g in groups for box in g["boxes"]]
    posts = []
    for _ in range(int(rng.integers(OCCLUDERS[0], OCCLUDERS[1] + 1))):
        _, victim = instances[int(rng.integers(len(instances)))]
        posts.append((victim, int(rng.integers(1 << 30))))
    noise_rng = np.random.default_rng(int(rng.integers(1 << 62)))
    frames, boxes, masks = [], [], []
    for f in range(FRAMES):
        offset = f - FRAMES // 2
        img = background.copy()
        img += noise_rng.normal(0.0, FRAME_NOISE, img.shape).astype(np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)
        mask = np.zeros(img.shape[:2], np.int16)
        for kind, colour, x, feet, h in clutter:
            _draw_distractor(img, kind, colour, x, feet, h)
        order = sorted(range(len(instances)), key=lambda i: instances[i][1][3])   # far first
        frame_boxes = [None] * len(instances)
        for i in order:
            g, box = instances[i]
            moved = _clip(_shift(box, g["dx"] * offset))
            render.draw_object(img, mask, i + 1, g["cls"], g["colour"], moved, g["facing"])
            frame_boxes[i] = [int(v) for v in moved]
        for victim, post_seed in posts:
            # the post stands where the victim is in the middle frame, so a moving group passes it
            render.draw_occluder(img, mask, _clip(victim), np.random.default_rng(post_seed), OCCLUDER_MAX_FRACTION)
        frames.append(img)
        boxes.append(frame_boxes)
        masks.append(mask)
    truth = truth_of(groups, place, action)
    return Event(split, index, frames, truth, boxes, masks, [g["role"] for g, _ in instances])


def make_events(split: str, n: int, seed: int = 0, start: int = 0) -> list[Event]:
    """Events `start .. start+n-1` of `split`; deterministic given seed."""
    if split not in v1.SPLITS:
        raise ValueError(f"split must be one of {v1.SPLITS}, got {split!r}")
    return [render_event(split, seed, i) for i in range(start, start + n)]
