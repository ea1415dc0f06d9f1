"""The scripted multi-camera scenario the DAT benchmark replays (same for every policy).

Four cameras replay real clips (bikes.mp4 twice at different offsets, carphone_pristine.mp4
twice). Events are scripted, not detected, so both policies see exactly the same items: each
event has an onset, a duration, a severity (semantic weight) and a scripted object box; while it
lasts the "gate" passes ``gate_fps`` frames per second (first one stage ``new``, last ``end``).
Every camera may also offer a context frame every ``context_every_s`` seconds (0 = never, as the
agent, which sends event frames only). Events of different
cameras start close together on purpose: contention between cameras is what DAT must arbitrate.

A *site* (:func:`site_cameras`) has more cameras on the same uplink: cameras alternate between the
two clips, each at its own offset, and camera k's events start k x ``stagger_s`` after camera 0's,
so with 16 cameras and a stagger shorter than an event most of the site is in an event at once,
at mixed severities (every round holds each weight on a quarter of the cameras).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.footage import clip_fps, read_frames

CAMERAS = (("cam0", "bikes.mp4", 0), ("cam1", "carphone_pristine.mp4", 0),
           ("cam2", "bikes.mp4", 125), ("cam3", "carphone_pristine.mp4", 60))
CLIP_FRAMES = {"bikes.mp4": 250, "carphone_pristine.mp4": 120}   # decoded frames (FACTS: footage table)
SEVERITIES = (1.0, 0.7, 0.4, 0.15)          # intrusion, loitering, vehicle, animal
LABELS = ("person", "person", "car", "dog")
CAMERA_STAGGER_S = 0.6                      # cameras' events start this far apart
FRAME_STEP = 2                              # keep every 2nd decoded frame in memory


@dataclass(frozen=True)
class ScriptedEvent:
    camera_id: str
    event_id: str
    onset: float          # seconds after scenario start
    duration: float
    severity: float
    label: str


@dataclass(frozen=True)
class ScriptedItem:
    at: float             # seconds after scenario start
    camera_id: str
    event: ScriptedEvent | None
    stage: str            # new | update | end | "" (context)


def site_cameras(n: int) -> tuple[tuple[str, str, int], ...]:
    """``n`` cameras: the four of today's scenario for n <= 4, else the clips alternating, each
    camera of a clip at its own offset (frame index) so no two show the same moment."""
    if n <= len(CAMERAS):
        return CAMERAS[:n]
    clips = ("bikes.mp4", "carphone_pristine.mp4")
    per_clip = [sum(1 for k in range(n) if k % 2 == c) for c in range(2)]
    return tuple((f"cam{k}", clips[k % 2], (k // 2) * (CLIP_FRAMES[clips[k % 2]] // per_clip[k % 2]))
                 for k in range(n))


def build_events(duration_s: float, events_per_camera: int, event_len_s: float = 6.0,
                 first_at: float = 4.0, onsets: list[float] | None = None,
                 cameras: tuple[tuple[str, str, int], ...] = CAMERAS,
                 stagger_s: float = CAMERA_STAGGER_S) -> list[ScriptedEvent]:
    """Events spread over the run (or at ``onsets``); camera k starts k x ``stagger_s`` after camera
    0; severities rotate so every camera has events of every weight."""
    out = []
    span = max(1.0, duration_s - first_at - event_len_s - 2.0)
    if onsets is None:
        onsets = [first_at + (span * j / max(1, events_per_camera - 1) if events_per_camera > 1 else 0.0)
                  for j in range(events_per_camera)]
    for j, base in enumerate(onsets):
        for k, (cam, _, _) in enumerate(cameras):
            sev_idx = (k + j) % len(SEVERITIES)
            out.append(ScriptedEvent(cam, f"{cam}-ev{j}", round(base + k * stagger_s, 3), event_len_s,
                                     SEVERITIES[sev_idx], LABELS[sev_idx]))
    return sorted(out, key=lambda e: e.onset)


def build_items(events: list[ScriptedEvent], duration_s: float, gate_fps: float,
                context_every_s: float, cameras: tuple[tuple[str, str, int], ...] = CAMERAS) -> list[ScriptedItem]:
    items = []
    for e in events:
        n = max(2, int(e.duration * gate_fps))
        for i in range(n):
            stage = "new" if i == 0 else ("end" if i == n - 1 else "update")
            items.append(ScriptedItem(e.onset + i / gate_fps, e.camera_id, e, stage))
    for k, (cam, _, _) in enumerate(cameras):
        if context_every_s <= 0:
            break
        t = 1.0 + k * context_every_s / len(cameras)
        while t < duration_s:
            items.append(ScriptedItem(t, cam, None, ""))
            t += context_every_s
    return sorted(items, key=lambda it: it.at)


class ClipFrames:
    """Decoded frames of each camera's clip (every FRAME_STEP-th), looked up by scenario time."""

    def __init__(self, cameras: tuple[tuple[str, str, int], ...] = CAMERAS) -> None:
        self.frames: dict[str, list[np.ndarray]] = {}
        self.fps: dict[str, float] = {}
        cache: dict[str, tuple[list[np.ndarray], float]] = {}
        for cam, clip, offset in cameras:
            if clip not in cache:
                frames = read_frames(clip, step=FRAME_STEP)
                fps = clip_fps(clip)
                if not frames:
                    raise RuntimeError(f"no frames decoded from {clip}")
                cache[clip] = (frames, fps / FRAME_STEP)
            frames, fps = cache[clip]
            k = (offset // FRAME_STEP) % len(frames)
            self.frames[cam] = frames[k:] + frames[:k]
            self.fps[cam] = fps

    def at(self, camera_id: str, t: float) -> np.ndarray:
        fr = self.frames[camera_id]
        return fr[int(t * self.fps[camera_id]) % len(fr)]


def scripted_box(event: ScriptedEvent, t: float, width: int, height: int) -> tuple[float, float, float, float]:
    """An object crossing the frame left to right over the event (a quarter of the width wide)."""
    p = min(1.0, max(0.0, (t - event.onset) / max(event.duration, 1e-6)))
    bw, bh = 0.22 * width, 0.6 * height
    x1 = (0.1 + 0.55 * p) * width
    y1 = 0.25 * height
    return (x1, y1, min(width - 1.0, x1 + bw), min(height - 1.0, y1 + bh))
