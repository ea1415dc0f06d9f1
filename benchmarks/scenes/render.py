"""Drawing one scene: backgrounds, the five object shapes, motion streaks, occluders.

Pure numpy + OpenCV on an RGB uint8 canvas. Every object is drawn twice: in
colour on the image and as its instance id on an int16 mask, so the training
script knows which patches an object covers (an occluder writes 0 back into the
mask, so a hidden part counts as background, as it would for a real encoder).
Shapes are deliberately simple silhouettes (a person is a head, torso and legs;
a car a body, cabin and wheels) so an object's class is a matter of shape over
a few patches, and its colour a matter of the pixels it covers.
"""
from __future__ import annotations

import cv2
import numpy as np

SIZE = 336                      # LLaVA-1.5 input side (CLIP ViT-L/14-336)
SKIN = (225, 185, 150)          # a person's head, whatever the clothing colour
TYRE = (35, 35, 35)
WINDOW = (70, 80, 95)
STREAK = (235, 235, 235)        # motion streaks: light lines trailing a moving object
OCCLUDER = (128, 128, 128)
COLOURS = {
    "red": (215, 35, 35), "green": (35, 165, 55), "blue": (40, 70, 215),
    "yellow": (235, 205, 30), "white": (245, 245, 245), "black": (25, 25, 25),
}
# Width / height of each class's box, before motion streaks.
ASPECT = {"person": 0.42, "car": 2.1, "bicycle": 1.6, "bag": 1.0, "dog": 1.7}
# Box height of each class relative to a person's height at the same depth.
RELATIVE_HEIGHT = {"person": 1.0, "car": 0.55, "bicycle": 0.55, "bag": 0.42, "dog": 0.45}
STREAK_FRACTION = 0.45          # streak length as a fraction of the object's width


def background(rng: np.random.Generator, frames: list[np.ndarray]) -> np.ndarray:
    """A 336x336 RGB background: plain, gradient, noise texture, road, or a real frame."""
    kind = rng.integers(0, 5 if frames else 4)
    base = rng.integers(70, 170, 3).astype(np.float32)
    if kind == 0:                                   # plain wall
        img = np.broadcast_to(base, (SIZE, SIZE, 3)).copy()
    elif kind == 1:                                 # vertical gradient (sky to ground)
        top = rng.integers(90, 200, 3).astype(np.float32)
        t = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[:, None, None]
        img = np.broadcast_to(top * (1 - t) + base * t, (SIZE, SIZE, 3)).copy()
    elif kind == 2:                                 # smoothed noise texture
        noise = rng.normal(0.0, 1.0, (SIZE // 8, SIZE // 8, 3)).astype(np.float32)
        noise = cv2.resize(noise, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        img = base + 18.0 * noise.mean(axis=2, keepdims=True) + 5.0 * noise  # mostly brightness
    elif kind == 3:                                 # road: horizon, asphalt, lane marks
        img = np.broadcast_to(base, (SIZE, SIZE, 3)).copy()
        horizon = int(rng.integers(60, 140))
        img[horizon:] = rng.integers(60, 110)
        for x in range(int(rng.integers(0, 40)), SIZE, 70):
            cv2.rectangle(img, (x, SIZE - 20), (x + 30, SIZE - 14), (200, 200, 190), -1)
    else:                                           # a real frame, dimmed toward grey
        frame = frames[int(rng.integers(0, len(frames)))]
        img = cv2.resize(frame, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
        img = 0.6 * img + 0.4 * 120.0
    img += rng.normal(0.0, 4.0, img.shape).astype(np.float32)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_object(img: np.ndarray, mask: np.ndarray, ident: int, cls: str, colour: str,
                box: tuple[int, int, int, int], facing: int) -> None:
    """Draw one object filling `box` (x1, y1, x2, y2) of the body; facing -1 left, +1 right."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    col = COLOURS[colour]

    def c(canvas_is_img: bool, rgb):
        return rgb if canvas_is_img else ident

    def person(cv, is_img):
        r = max(2, int(0.11 * h))
        cx = (x1 + x2) // 2 + facing * max(1, r // 3)
        cv2.circle(cv, (cx, y1 + r), r, c(is_img, SKIN), -1)
        cv2.rectangle(cv, (x1 + w // 6, y1 + 2 * r), (x2 - w // 6, y1 + int(0.62 * h)), c(is_img, col), -1)
        leg = max(2, w // 4)
        cv2.rectangle(cv, (x1 + w // 6, y1 + int(0.62 * h)), (x1 + w // 6 + leg, y2), c(is_img, col), -1)
        cv2.rectangle(cv, (x2 - w // 6 - leg, y1 + int(0.62 * h)), (x2 - w // 6, y2), c(is_img, col), -1)

    def car(cv, is_img):
        cv2.rectangle(cv, (x1, y1 + int(0.4 * h)), (x2, y2 - h // 6), c(is_img, col), -1)
        front = x2 if facing > 0 else x1
        back = x1 if facing > 0 else x2
        cabin = np.array([[back + (w // 10) * facing, y1 + int(0.4 * h)], [back + (w // 5) * facing, y1],
                          [front - (w // 3) * facing, y1], [front - (w // 5) * facing, y1 + int(0.4 * h)]],
                         np.int32)
        cv2.fillPoly(cv, [cabin], c(is_img, col))
        win = np.array([[back + (w // 4) * facing, y1 + int(0.35 * h)], [back + (w // 4) * facing, y1 + h // 8],
                        [front - (w // 3) * facing, y1 + h // 8], [front - (w // 4) * facing, y1 + int(0.35 * h)]],
                       np.int32)
        cv2.fillPoly(cv, [win], c(is_img, WINDOW))
        r = max(2, h // 6)
        for wx in (x1 + w // 5, x2 - w // 5):
            cv2.circle(cv, (wx, y2 - r), r, c(is_img, TYRE), -1)

    def bicycle(cv, is_img):
        r = max(3, int(0.33 * h))
        t = max(2, h // 10)
        left, right = (x1 + r, y2 - r), (x2 - r, y2 - r)
        for centre in (left, right):
            cv2.circle(cv, centre, r, c(is_img, TYRE), max(1, t // 2 + 1))
        seat = ((left[0] + right[0]) // 2 - facing * r // 2, y1 + h // 6)
        bar = (right[0] if facing > 0 else left[0], y1 + h // 8)
        for a, b in ((left, seat), (seat, right), (left, (seat[0], y2 - r)), ((seat[0], y2 - r), right),
                     (right if facing > 0 else left, bar)):
            cv2.line(cv, a, b, c(is_img, col), t)

    def bag(cv, is_img):
        t = max(2, h // 8)
        cv2.rectangle(cv, (x1, y1 + h // 3), (x2, y2), c(is_img, col), -1)
        cv2.ellipse(cv, ((x1 + x2) // 2, y1 + h // 3), (max(2, w // 4), max(2, h // 4)), 0, 180, 360,
                    c(is_img, col), t)

    def dog(cv, is_img):
        body_top, body_bot = y1 + int(0.3 * h), y1 + int(0.7 * h)
        cv2.ellipse(cv, ((x1 + x2) // 2, (body_top + body_bot) // 2), (int(0.36 * w), max(2, (body_bot - body_top) // 2)),
                    0, 0, 360, c(is_img, col), -1)
        head_x = x2 - w // 7 if facing > 0 else x1 + w // 7
        cv2.circle(cv, (head_x, y1 + int(0.28 * h)), max(2, int(0.24 * h)), c(is_img, col), -1)
        t = max(2, w // 14)
        for lx in (x1 + w // 4, x1 + w // 2 - w // 10, x2 - w // 4):
            cv2.line(cv, (lx, body_bot - 1), (lx, y2), c(is_img, col), t)

    painter = {"person": person, "car": car, "bicycle": bicycle, "bag": bag, "dog": dog}[cls]
    painter(img, True)
    painter(mask, False)


def draw_streaks(img: np.ndarray, mask: np.ndarray, ident: int, box: tuple[int, int, int, int],
                 direction: int) -> tuple[int, int, int, int]:
    """Motion streaks trailing an object moving in `direction` (-1 left, +1 right); returns the grown box."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    length = max(4, int(STREAK_FRACTION * w))
    t = max(1, h // 16)
    start = x1 if direction > 0 else x2
    end = start - direction * length
    for frac in (0.3, 0.5, 0.7):
        y = y1 + int(frac * h)
        cv2.line(img, (start, y), (end, y), STREAK, t)
        cv2.line(mask, (start, y), (end, y), ident, t)
    nx1, nx2 = (min(x1, end), x2) if direction > 0 else (x1, max(x2, end))
    return (max(0, nx1), y1, min(SIZE - 1, nx2), y2)


def draw_occluder(img: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int],
                  rng: np.random.Generator, max_fraction: float) -> None:
    """A grey post covering up to `max_fraction` of the box's width, full height."""
    x1, y1, x2, y2 = box
    w = x2 - x1
    pw = max(2, int(w * rng.uniform(0.2, max_fraction)))
    px = int(rng.integers(x1, max(x1 + 1, x2 - pw)))
    cv2.rectangle(img, (px, y1 - 4), (px + pw, y2 + 4), OCCLUDER, -1)
    cv2.rectangle(mask, (px, y1 - 4), (px + pw, y2 + 4), 0, -1)
