"""Visual guidance and semantic prompting from the edge's detections (DAT).

DAT improves structured event understanding with two cheap signals the edge
already has:
- visual guidance: the edge detector's boxes are drawn on the frame the MLLM
  sees (a coloured rectangle and its label per detection), so the model's
  attention lands on the objects that triggered the event;
- semantic prompting: the edge's labels, counts, zone, dwell time, rule and
  camera name are written into the prompt, so the answer's `objects` and
  `threat_level` start from what was measured rather than guessed.
The answer format itself is enforced by constrained decoding (cloud/answer/constrained.py);
the prompt only names the fields so a real model fills them sensibly. The narrative comes
last and is told to keep to the fields: a model writes it conditioned on its own facts.

Hint values come from the network: they are typed, clipped and stripped of
control characters before they reach the prompt.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from cloud.answer.request import DescribeRequest

SYSTEM_PROMPT = (
    "You are a video-surveillance analyst. You see key frames of one event from a fixed "
    "camera; coloured boxes mark what the edge detector found. Answer with one JSON object: "
    "summary (one sentence, what happens), threat_level (0 = normal, 1 = suspicious, "
    "2 = dangerous), objects (label and count of each kind of object involved), action "
    "(what the main subject is doing), narrative (one or two plain sentences for the person on "
    "duty: what happened, saying only what the fields above say)."
)
MAX_HINT_CHARS = 64          # a hint string longer than this is clipped
MAX_LISTED_DETECTIONS = 12   # more boxes than this add nothing a count doesn't say
# BGR-free palette (RGB) cycling per label, chosen to stay visible on road and indoor scenes.
PALETTE = [(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (200, 64, 255),
           (0, 220, 220)]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class FixedPrompt:
    """The one question a model trained on one task is asked, whatever the edge's hints say (the
    adapter declares it: `ModelAdapter.fixed_prompt`; the benchmark VLM has one)."""
    system: str
    question: str


def model_prompt(user: str, system: str, fixed: FixedPrompt | None) -> tuple[str, str]:
    """(user turn, system turn) the model is asked: as built, or its fixed prompt."""
    return (user, system) if fixed is None else (fixed.question, fixed.system)


@dataclass
class GuidedPrompt:
    images: list[np.ndarray]   # RGB uint8 with the edge's boxes drawn
    system: str
    user: str


def clean_text(value: object, limit: int = MAX_HINT_CHARS) -> str:
    return _CONTROL.sub(" ", str(value)).strip()[:limit]


def draw_detections(image: np.ndarray, detections: list[dict]) -> np.ndarray:
    """A copy of `image` (RGB) with each detection's box and label drawn."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    thickness = max(1, round(max(h, w) / 320))
    labels = sorted({clean_text(d.get("label", "object")) for d in detections})
    colour_of = {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(labels)}
    for det in detections:
        box = det.get("box")
        if box is None or len(box) != 4:
            continue
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        x1, x2 = sorted((max(0, min(w - 1, x1)), max(0, min(w - 1, x2))))
        y1, y2 = sorted((max(0, min(h - 1, y1)), max(0, min(h - 1, y2))))
        label = clean_text(det.get("label", "object"))
        colour = colour_of[label]
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        cv2.putText(out, label, (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35 * thickness, colour, max(1, thickness // 2), cv2.LINE_AA)
    return out


def semantic_prompt(req: DescribeRequest) -> str:
    """The user turn: what the edge measured, then the request."""
    hints = req.hints or {}
    lines = []
    camera = clean_text(hints.get("camera_name") or req.camera_id)
    lines.append(f"Camera: {camera}.")
    if hints.get("zone"):
        lines.append(f"Zone: {clean_text(hints['zone'])}.")
    counts = hints.get("counts")
    if not counts and req.detections:
        counts = Counter(clean_text(d.get("label", "object")) for d in req.detections)
    if counts:
        parts = [f"{int(n)} {clean_text(label)}" for label, n in sorted(counts.items())
                 if _is_number(n)]
        if parts:
            lines.append("Edge detector counts: " + ", ".join(parts) + ".")
    if req.detections:
        shown = sorted(req.detections, key=lambda d: -float(d.get("score", 0.0)))
        shown = shown[:MAX_LISTED_DETECTIONS]
        lines.append("Boxes drawn: " + ", ".join(
            f"{clean_text(d.get('label', 'object'))} {float(d.get('score', 0.0)):.2f}"
            for d in shown) + ".")
    if _is_number(hints.get("dwell_seconds")):
        lines.append(f"Present for {float(hints['dwell_seconds']):.0f} s.")
    if hints.get("rule"):
        lines.append(f"Triggered rule: {clean_text(hints['rule'])}.")
    if len(req.images) > 1:
        lines.append(f"{len(req.images)} key frames, in time order.")
    lines.append("Describe the event.")
    return "\n".join(lines)


def build_prompt(req: DescribeRequest, *, draw_boxes: bool = True,
                 fixed: FixedPrompt | None = None) -> GuidedPrompt:
    """The images (boxes drawn) and the turns the model is asked; a model with a `fixed` prompt is
    asked that, the edge's hints unread."""
    images = []
    for index, image in enumerate(req.images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image {index} must be RGB uint8 (H, W, 3), got "
                             f"{image.dtype} {image.shape}")
        dets = [d for d in req.detections if int(d.get("frame", 0)) == index]
        images.append(draw_detections(image, dets) if draw_boxes and dets else image)
    if fixed is not None:
        user, system = model_prompt("", "", fixed)
    else:
        user, system = semantic_prompt(req), SYSTEM_PROMPT
    return GuidedPrompt(images=images, system=system, user=user)


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)
