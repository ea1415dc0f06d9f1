"""A small multi-object tracker in the spirit of ByteTrack (Zhang et al., ECCV 2022).

Detector-agnostic (works with HOG as well as YOLO), pure numpy/scipy, no threads,
so it is tested with plain boxes. Choices where ByteTrack's recipe does not fit
a 5-fps gate:
- Motion model: a constant-velocity box (in pixels per second, smoothed), not a
  Kalman filter; at 5 fps the prediction only needs to keep IoU above
  ``match_iou`` for a walking or cycling person.
- Two-stage association as in ByteTrack: detections at or above ``high_score``
  are matched first (Hungarian on IoU), then the weaker ones may only *continue*
  leftover tracks, never start one.
- Ages are in seconds of capture time, not frames, because the gate may skip
  frames (no motion) and cameras run at different rates.
- Labels must agree for a match. Boxes that nest (a face-derived box inside a body
  box) match at half weight even when their IoU is low (``_similarity``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.detection import Detection, iou
from edge.events.config import TrackerConfig

# Weight of the newest velocity estimate in the running average.
_VELOCITY_SMOOTHING = 0.5


@dataclass
class Track:
    track_id: int
    label: str
    box: tuple[float, float, float, float]
    score: float
    first_seen: float
    last_seen: float
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)     # px/s of the box centre
    detection: Detection | None = None              # the detection that last updated it (None when coasting)
    history: list[tuple[float, tuple[float, float]]] = field(default_factory=list)

    def predict(self, t: float) -> tuple[float, float, float, float]:
        dt = max(0.0, t - self.last_seen)
        vx, vy = self.velocity
        x1, y1, x2, y2 = self.box
        return (x1 + vx * dt, y1 + vy * dt, x2 + vx * dt, y2 + vy * dt)

    @property
    def age(self) -> float:
        return self.last_seen - self.first_seen


class IouTracker:
    def __init__(self, cfg: TrackerConfig | None = None):
        self.cfg = cfg or TrackerConfig()
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)
        self.removed: list[Track] = []      # tracks that ended in the last update()

    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.hits >= self.cfg.min_hits]

    def _match(self, tracks: list[Track], dets: list[Detection], t: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        if not tracks or not dets:
            return [], list(range(len(tracks))), list(range(len(dets)))
        cost = np.ones((len(tracks), len(dets)))
        for i, tr in enumerate(tracks):
            pb = tr.predict(t)
            for j, d in enumerate(dets):
                if d.label == tr.label:
                    cost[i, j] = 1.0 - _similarity(pb, d.box())
        rows, cols = linear_sum_assignment(cost)
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= 1.0 - self.cfg.match_iou]
        mt = {r for r, _ in pairs}
        md = {c for _, c in pairs}
        return pairs, [i for i in range(len(tracks)) if i not in mt], [j for j in range(len(dets)) if j not in md]

    def _apply(self, tr: Track, d: Detection, t: float) -> None:
        dt = t - tr.last_seen
        if dt > 0:
            (ox, oy), (nx, ny) = _centre(tr.box), d.center
            v = ((nx - ox) / dt, (ny - oy) / dt)
            a = _VELOCITY_SMOOTHING if tr.hits > 1 else 1.0
            tr.velocity = (a * v[0] + (1 - a) * tr.velocity[0], a * v[1] + (1 - a) * tr.velocity[1])
        tr.box, tr.score, tr.last_seen, tr.detection = d.box(), d.score, t, d
        tr.hits += 1
        tr.history.append((t, d.bottom_center))
        d.track_id = tr.track_id

    def update(self, detections: list[Detection], t: float) -> list[Track]:
        """Associate ``detections`` seen at time ``t``; returns the confirmed live tracks.

        Sets ``track_id`` on each associated detection (-1 stays on unconfirmed ones).
        """
        for tr in self.tracks:
            tr.detection = None
        high = [d for d in detections if d.score >= self.cfg.high_score]
        low = [d for d in detections if d.score < self.cfg.high_score]
        pairs, free_tracks, free_high = self._match(self.tracks, high, t)
        for i, j in pairs:
            self._apply(self.tracks[i], high[j], t)
        rest = [self.tracks[i] for i in free_tracks]
        pairs2, _, _ = self._match(rest, low, t)
        for i, j in pairs2:
            self._apply(rest[i], low[j], t)
        for j in free_high:
            d = high[j]
            tr = Track(next(self._ids), d.label, d.box(), d.score, t, t, detection=d, history=[(t, d.bottom_center)])
            self.tracks.append(tr)
        alive, self.removed = [], []
        for tr in self.tracks:
            expired = t - tr.last_seen > self.cfg.max_age_s
            stale_tentative = tr.hits < self.cfg.min_hits and tr.last_seen < t and tr.detection is None \
                and t - tr.last_seen > self.cfg.max_age_s / 2
            (self.removed if expired or stale_tentative else alive).append(tr)
        self.tracks = alive
        for tr in self.tracks:
            if tr.detection is not None and tr.hits >= self.cfg.min_hits:
                tr.detection.track_id = tr.track_id
            elif tr.detection is not None:
                tr.detection.track_id = -1
        return self.confirmed()

    def flush(self) -> list[Track]:
        self.removed, self.tracks = self.tracks, []
        return self.removed


def _similarity(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU, or half the overlap-over-smaller-box when one box sits inside the other.

    The fallback detectors describe one person with boxes of different extent (HOG: the
    body; a face hit: head and shoulders), so a person's consecutive boxes can nest
    with an IoU below ``match_iou``; nesting still counts as the same object, at half weight.
    """
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return max(iou(a, b), 0.5 * inter / smaller if smaller > 0 else 0.0)


def _centre(b: tuple[float, float, float, float]) -> tuple[float, float]:
    return ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)
