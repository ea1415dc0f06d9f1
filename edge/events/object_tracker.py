"""The object tracker behind one-event-per-object: IoU tracking that survives gaps.

``IouTracker`` (iou_tracker.py, the baseline) matches a detection to a track only
when the predicted box overlaps it. On a 5-fps gate with a flickering detector
that is not enough: a person missed for two frames, hidden behind a pillar or
crossing another person comes back as a new track, and so as a new event. This
tracker keeps ByteTrack's two-stage association and adds, for a bounded gap:
- Motion: a constant-velocity prediction of the box, extrapolated at most
  ``_MAX_PREDICT_S`` (a person who stopped behind a pillar does not drift away).
- Distance gate: a detection may continue a lost track when its centre is within
  ``gate_diagonals`` box diagonals of the prediction (growing with the gap, as the
  uncertainty of a constant-velocity guess does) and its size is similar.
- Appearance: a hue-saturation histogram of the crop (appearance.py, in the
  spirit of DeepSORT's appearance term, Wojke et al. 2017, without the CNN). It
  adds to the matching cost (so two people crossing keep their identities) and
  must be close for any match that is not an overlap.
- Scene cuts (scene_cut.py): during the hold after a cut, positions mean nothing;
  a detection re-associates with a live track of its label on appearance alone,
  and tracks started in the hold are not confirmed until it is over (no burst of
  new events).
- Duplicates: two confirmed tracks that keep overlapping, moving alike and
  looking alike are one object seen twice (a body box and a face box, or two
  tracks split by a missed association); the younger merges into the older and
  is reported in ``merged`` so its event can be folded into the older one.
- Stillness: a gate with a motion stage does not run the detector where nothing
  moved, so a person standing still is not detected again. A confirmed track whose
  box no motion region touches (nor the box its motion predicts) is *held* (its age
  does not run: the picture did not change where it stands or would be walking to;
  Frigate keeps such "stationary" objects too), for at most
  ``stationary_max_s`` since its last detection. Leaving makes motion, so an object
  that walks away ages and ends as usual.
- Frame edges: a lost track whose predicted centre is outside the picture has left;
  it is not continued by someone entering at the same edge (only an overlap can). A confirmed
  track walking out through the edge (its box there, its motion heading out) is not continued even
  by an overlapping box that does not look like it (``appearance_max``): one walking in as another
  walks out at the same place overlaps them without being them (the frame-to-frame overlap would
  pass one identity to the other, and the one walking in would never open its own event).
- Occlusions longer than ``max_age_s``: people leave a picture at its edges; one that vanishes
  inside it is hidden (behind a pillar, a parked car, another person) or missed by the detector.
  A confirmed track lost inside the picture survives ``occlusion_max_age_s``; beyond ``max_age_s``
  it is continued only by a detection near its predicted place that looks the same (appearance
  within ``appearance_max``, even when the boxes overlap). A track whose predicted box reaches the
  picture's edge has left and ends after ``max_age_s``, as before. This delays no ``new`` stage;
  it delays the ``end`` of an object lost mid-picture (``ended_at`` still says its last sighting).
- Found again under a new track: when a new track is about to be confirmed (before its event would
  open), it is first compared with the confirmed tracks. A duplicate of one seen on this frame is
  dropped; one near the predicted place of a track missed on this frame, looking the same (a box
  cut by a pillar, a part of the body after a gap), is that lost track found again: the old track
  carries on with its detections and no new event opens (no ``new`` stage is delayed by this).
- The gate's remembered boxes (it did not run the detector; motion is on the box) can keep a track
  but never start one: a copy of a lost object's box is not a new object.
- Walked off unseen: motion where a missed track stood means it moved; it is not held as standing
  still again until it is detected (otherwise it is held where it was for minutes and claimed by the
  next person who passes there). A track picked up after more than ``max_age_s`` without a detection
  (held or not) needs a near detection that looks the same.
The gap is bounded by ``max_age_s`` (``occlusion_max_age_s`` inside the picture): unseen longer,
the object has left.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.detection import Detection
from edge.events.appearance import appearance_distance, blend, colour_histogram
from edge.events.config import TrackerConfig
from edge.events.iou_tracker import Track, _centre, _similarity

_VELOCITY_SMOOTHING = 0.5     # weight of the newest velocity estimate (as in IouTracker)
_MAX_PREDICT_S = 1.0          # extrapolate a lost box at most this long: people stop, turn, wait
_SIZE_RATIO_MAX = 3.0         # a detection more than 3x larger or smaller in area is another object
_NEAR_WEIGHT = 0.3            # cost per box diagonal of centre distance
_UNKNOWN_APPEARANCE = 0.5     # cost assumed when a crop has no usable colour
_INF = 1e6
_CONTINUOUS_S = 0.3           # seen this recently = frame to frame at the 5-fps gate (no miss in between)
_EDGE_MARGIN = 0.01           # a box within 1% of the picture's border touches its edge
_MOTION_MARGIN = 0.1          # a motion region within 10% of a box's size counts as motion of that object


def _touches(region, box, margin: float) -> bool:
    mx, my = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    return not (region[2] < box[0] - mx or region[0] > box[2] + mx or region[3] < box[1] - my or region[1] > box[3] + my)


@dataclass
class ObjectTrack(Track):
    appearance: np.ndarray | None = None
    confirmed: bool = False
    merged: bool = False
    last_detected: float = 0.0              # capture time of its last detection (last_seen also moves while held)
    merge_streak: dict[int, int] = field(default_factory=dict)    # other track id -> frames seen as a duplicate
    moved_unseen: bool = False              # motion where it stood and no detection: it walked off, not still


class ObjectTracker:
    """Same interface as ``IouTracker``: ``update(dets, t, image=, cut=)`` -> confirmed tracks; ``removed``."""

    def __init__(self, cfg: TrackerConfig | None = None):
        self.cfg = cfg or TrackerConfig()
        self.tracks: list[ObjectTrack] = []
        self._ids = itertools.count(1)
        self.removed: list[ObjectTrack] = []
        self.merged: list[tuple[int, int]] = []     # (younger id, older id) merged in the last update()
        self._hold_until = -math.inf
        self._frame: tuple[int, int] | None = None     # (width, height) of the last image

    def confirmed(self) -> list[ObjectTrack]:
        return [t for t in self.tracks if t.hits >= self.cfg.min_hits and t.confirmed]

    # -- association ---------------------------------------------------------------
    def _predict(self, tr: ObjectTrack, t: float) -> tuple[float, float, float, float]:
        dt = min(max(0.0, t - tr.last_seen), _MAX_PREDICT_S)
        vx, vy = tr.velocity
        x1, y1, x2, y2 = tr.box
        return (x1 + vx * dt, y1 + vy * dt, x2 + vx * dt, y2 + vy * dt)

    def _cost(self, tr: ObjectTrack, d: Detection, hist: np.ndarray | None, t: float, holding: bool) -> float:
        if d.label != tr.label:
            return _INF
        area_t = max(1.0, (tr.box[2] - tr.box[0]) * (tr.box[3] - tr.box[1]))
        ratio = max(1.0, d.area) / area_t
        if ratio > _SIZE_RATIO_MAX or ratio < 1.0 / _SIZE_RATIO_MAX:
            return _INF
        # Appearance does not veto a frame-to-frame overlap (blur, shadow and a box that takes in background
        # all move the histogram); it adds to the cost. After a miss it does: someone else walking into the
        # place where a lost object was predicted to be is the classic identity switch.
        app = appearance_distance(tr.appearance, hist)
        if app is not None and app > self.cfg.appearance_veto and t - tr.last_detected > _CONTINUOUS_S:
            return _INF
        # Frame to frame, an overlap continues a track even when its colour moves, except where someone else
        # is the likelier owner of the box: the track was walking out at the picture's edge and the box there
        # does not look like it (one walked out as another walked in at the same place; their boxes overlap).
        if app is not None and app > self.cfg.appearance_max and self._leaving(tr, t):
            return _INF
        if holding:   # after a cut positions mean nothing: appearance alone, and it must be close
            if app is None or app > self.cfg.appearance_max:
                return _INF
            return 1.0 + app
        pb = self._predict(tr, t)
        sim = _similarity(pb, d.box())
        (px, py), (cx, cy) = _centre(pb), d.center
        diag = math.hypot(pb[2] - pb[0], pb[3] - pb[1]) or 1.0
        dist = math.hypot(cx - px, cy - py) / diag
        gap = max(0.0, t - tr.last_seen)
        gate = min(self.cfg.gate_diagonals, self.cfg.gate_diagonals * (0.5 + gap))
        if t - tr.last_detected > self.cfg.max_age_s:     # (held as standing still counts as unseen here)
            # Found again after a long occlusion: it must be near where it was going and look the same,
            # overlap or not (after seconds, an overlap alone is often someone else at that place).
            if dist > gate or app is None or app > self.cfg.appearance_max:
                return _INF
        if sim < self.cfg.match_iou:
            # No overlap: only a near detection that looks the same continues the track, and not a
            # track whose object went out of the picture (someone entering there is someone else).
            if dist > gate or app is None or app > self.cfg.appearance_max or self._outside(px, py):
                return _INF
        return (1.0 - sim) + _NEAR_WEIGHT * min(dist, 3.0) + (app if app is not None else _UNKNOWN_APPEARANCE)

    def _at_edge(self, tr: ObjectTrack, t: float) -> bool:
        """Its box, or where it would be now, reaches the picture's edge: an object lost there has left."""
        if self._frame is None:
            return False
        W, H = self._frame
        mx, my = W * _EDGE_MARGIN, H * _EDGE_MARGIN
        return any(b[0] <= mx or b[1] <= my or b[2] >= W - mx or b[3] >= H - my
                   for b in (tr.box, self._predict(tr, t)))

    def _leaving(self, tr: ObjectTrack, t: float) -> bool:
        """Confirmed, its box at the picture's edge and its motion heading out through that edge."""
        if self._frame is None or not tr.confirmed:
            return False
        W, H = self._frame
        mx, my = W * _EDGE_MARGIN, H * _EDGE_MARGIN
        (x1, y1, x2, y2), (vx, vy) = tr.box, tr.velocity
        return (x1 <= mx and vx < 0) or (x2 >= W - mx and vx > 0) or (y1 <= my and vy < 0) or (y2 >= H - my and vy > 0)

    def _age_limit(self, tr: ObjectTrack, t: float) -> float:
        if not tr.confirmed:
            return self.cfg.max_age_s / 2
        if self._at_edge(tr, t):
            return self.cfg.max_age_s
        return max(self.cfg.max_age_s, self.cfg.occlusion_max_age_s)

    def _outside(self, x: float, y: float) -> bool:
        return self._frame is not None and not (0.0 <= x <= self._frame[0] and 0.0 <= y <= self._frame[1])

    def _match(self, tracks: list[ObjectTrack], dets: list[Detection], hists: list, t: float,
               holding: bool) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        if not tracks or not dets:
            return [], list(range(len(tracks))), list(range(len(dets)))
        cost = np.array([[self._cost(tr, d, h, t, holding) for d, h in zip(dets, hists)] for tr in tracks])
        rows, cols = linear_sum_assignment(np.minimum(cost, _INF))
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < _INF]
        mt, md = {r for r, _ in pairs}, {c for _, c in pairs}
        return pairs, [i for i in range(len(tracks)) if i not in mt], [j for j in range(len(dets)) if j not in md]

    def _apply(self, tr: ObjectTrack, d: Detection, hist, t: float, jumped: bool, coasted: bool = False) -> None:
        if coasted and d.box() == tr.box:
            # The gate's remembered copy of the box it last detected (it did not run the detector, motion
            # is on the box): the object is there (a hit, as for IouTracker), but the copy says nothing
            # about where it moved or how it looks.
            tr.last_seen, tr.detection = t, d
            tr.hits += 1
            return
        dt = t - tr.last_seen
        if jumped:
            tr.velocity = (0.0, 0.0)     # the camera moved, not the object
        elif dt > 0:
            (ox, oy), (nx, ny) = _centre(tr.box), d.center
            v = ((nx - ox) / dt, (ny - oy) / dt)
            a = _VELOCITY_SMOOTHING if tr.hits > 1 else 1.0
            tr.velocity = (a * v[0] + (1 - a) * tr.velocity[0], a * v[1] + (1 - a) * tr.velocity[1])
        tr.box, tr.score, tr.last_seen, tr.last_detected, tr.detection = d.box(), d.score, t, t, d
        tr.moved_unseen = False
        tr.appearance = blend(tr.appearance, hist, self.cfg.appearance_update)
        tr.hits += 1
        tr.history.append((t, d.bottom_center))
        if len(tr.history) > self.cfg.history_points:
            del tr.history[0]

    # -- one frame -----------------------------------------------------------------
    def update(self, detections: list[Detection], t: float, image: np.ndarray | None = None,
               cut: bool = False, motion: list[tuple] | None = None, coasted: bool = False) -> list[ObjectTrack]:
        """Associate ``detections`` seen at time ``t`` (``image``: the frame, for appearance; ``cut``: a
        scene cut was seen on this frame; ``motion``: the gate's motion regions, None when it has no
        motion stage; ``coasted``: the detections are the gate's remembered boxes, not a detector
        run). Returns the confirmed live tracks."""
        if image is not None:
            self._frame = (image.shape[1], image.shape[0])
        if cut:
            self._hold_until = t + self.cfg.cut_hold_s
        holding = t < self._hold_until
        for tr in self.tracks:
            tr.detection = None
        hists = [colour_histogram(image, d.box()) if image is not None else None for d in detections]
        high = [i for i, d in enumerate(detections) if d.score >= self.cfg.high_score]
        low = [i for i, d in enumerate(detections) if d.score < self.cfg.high_score]
        # Confirmed tracks first (they own the objects), then tentative ones (ByteTrack's order of trust).
        order = sorted(self.tracks, key=lambda tr: (not tr.confirmed, -tr.last_seen))
        pairs, free_t, free_h = self._match(order, [detections[i] for i in high], [hists[i] for i in high], t, holding)
        for i, j in pairs:
            self._apply(order[i], detections[high[j]], hists[high[j]], t, holding, coasted)
        rest = [order[i] for i in free_t]
        pairs2, _, _ = self._match(rest, [detections[i] for i in low], [hists[i] for i in low], t, holding)
        for i, j in pairs2:
            self._apply(rest[i], detections[low[j]], hists[low[j]], t, holding, coasted)
        for j in ([] if coasted else free_h):
            # A remembered box the gate did not detect again is a copy of an old detection: it can keep a track
            # (above) but never start one (it would open a second event on the copy of a lost object's box).
            d = detections[high[j]]
            tr = ObjectTrack(next(self._ids), d.label, d.box(), d.score, t, t, detection=d,
                             history=[(t, d.bottom_center)], appearance=hists[high[j]], last_detected=t)
            self.tracks.append(tr)
        adopted: list[tuple[int, int]] = []
        for tr in self.tracks:   # confirmation waits for the end of a cut's hold
            if not tr.confirmed and tr.hits >= self.cfg.min_hits and not holding and tr.detection is not None:
                twin = self._live_twin(tr)
                if twin is not None:      # a second box of an object already tracked (a face box in a body box)
                    tr.merged = True
                    adopted.append((tr.track_id, twin.track_id))
                    continue
                old = self._lost_twin(tr, t)
                if old is not None:       # not a new object: the lost one, found again under a new track
                    self._adopt(old, tr)
                    adopted.append((tr.track_id, old.track_id))
                    continue
                tr.confirmed = True
        if motion is not None and not holding:
            self._hold_still(motion, t)
        self.merged = adopted + self._merge_duplicates()
        alive, removed = [], [tr for tr in self.tracks if tr.merged]
        for tr in self.tracks:
            if tr.merged:
                continue
            (removed if t - tr.last_seen > self._age_limit(tr, t) else alive).append(tr)
        self.tracks, self.removed = alive, removed
        for tr in self.tracks:
            if tr.detection is not None:
                tr.detection.track_id = tr.track_id if tr.confirmed else -1
        return self.confirmed()

    def _live_twin(self, new: ObjectTrack) -> ObjectTrack | None:
        """A confirmed track seen on this frame of which ``new`` is a duplicate (``_duplicates``): caught before
        ``new`` opens an event, rather than merged ``merge_frames`` later."""
        for old in self.tracks:
            if (old is not new and old.confirmed and not old.merged and old.detection is not None
                    and old.label == new.label and self._duplicates(old, new)):
                return old
        return None

    def _lost_twin(self, new: ObjectTrack, t: float) -> ObjectTrack | None:
        """A confirmed track, missed on this frame and not gone out at the edge, whose predicted place is near
        ``new`` and which looks like it: ``new`` is that object, found again after an association the frame-to-
        frame matching could not make (a box cut in half by a pillar, a box of another size after a gap)."""
        best, best_cost = None, _INF
        (nx, ny) = _centre(new.box)
        area_n = max(1.0, (new.box[2] - new.box[0]) * (new.box[3] - new.box[1]))
        for old in self.tracks:
            if old is new or not old.confirmed or old.merged or old.detection is not None or old.label != new.label:
                continue
            pb = self._predict(old, t)
            if self._outside(*_centre(pb)):
                continue      # it went out of the picture: one entering there is someone else
            app = appearance_distance(old.appearance, new.appearance)
            if app is None or app > self.cfg.appearance_max:
                continue
            area_o = max(1.0, (pb[2] - pb[0]) * (pb[3] - pb[1]))
            # Looser than frame-to-frame matching: the box that could not continue it is often a part of it.
            if not 1.0 / _SIZE_RATIO_MAX ** 2 <= area_n / area_o <= _SIZE_RATIO_MAX ** 2:
                continue
            px, py = _centre(pb)
            dist = math.hypot(nx - px, ny - py) / (math.hypot(pb[2] - pb[0], pb[3] - pb[1]) or 1.0)
            if dist > self.cfg.gate_diagonals:
                continue
            cost = _NEAR_WEIGHT * dist + app
            if cost < best_cost:
                best, best_cost = old, cost
        return best

    def _adopt(self, old: ObjectTrack, new: ObjectTrack) -> None:
        """``old`` carries on from ``new``'s detections; ``new`` is dropped (no event was opened for it)."""
        old.box, old.score, old.detection, old.velocity = new.box, new.score, new.detection, new.velocity
        old.last_seen = old.last_detected = new.last_detected
        old.appearance = blend(old.appearance, new.appearance, self.cfg.appearance_update)
        old.hits += new.hits
        old.moved_unseen = False
        old.history = (old.history + new.history)[-self.cfg.history_points:]
        new.merged = True

    def _hold_still(self, motion: list[tuple], t: float) -> None:
        """Confirmed tracks missed where nothing moved stay (their age does not run), within bounds."""
        for tr in self.tracks:
            if tr.detection is not None or not tr.confirmed or t - tr.last_detected > self.cfg.stationary_max_s:
                continue
            pred = self._predict(tr, t)
            px, py = _centre(pred)
            if self._outside(px, py) or self._at_edge(tr, t):
                continue      # walked out of the picture (or to its edge, where it can step out unseen): left, not still
            # Nothing moved where it stood nor where it would be walking to (at its pace, however long it has
            # been gone: a walker the detector lost keeps making motion ahead of the capped prediction):
            # it is standing still.
            dt = max(0.0, t - tr.last_seen)
            vx, vy = tr.velocity
            ahead = (tr.box[0] + vx * dt, tr.box[1] + vy * dt, tr.box[2] + vx * dt, tr.box[3] + vy * dt)
            if tr.moved_unseen:
                continue      # it moved once where the detector could not see it: it walked off; it ages
            if not any(_touches(r, b, _MOTION_MARGIN) for r in motion for b in (tr.box, pred, ahead)):
                tr.last_seen, tr.velocity = t, (0.0, 0.0)
            elif t - tr.last_detected > _CONTINUOUS_S:
                tr.moved_unseen = True

    def _merge_duplicates(self) -> list[tuple[int, int]]:
        seen = [tr for tr in self.tracks if tr.detection is not None and tr.confirmed]
        merged: list[tuple[int, int]] = []
        for a, b in itertools.combinations(sorted(seen, key=lambda tr: (tr.first_seen, tr.track_id)), 2):
            if a.merged or b.merged or a.label != b.label:
                continue
            if self._duplicates(a, b):
                b.merge_streak[a.track_id] = b.merge_streak.get(a.track_id, 0) + 1
            else:
                b.merge_streak.pop(a.track_id, None)
                continue
            if b.merge_streak[a.track_id] >= self.cfg.merge_frames:
                a.first_seen = min(a.first_seen, b.first_seen)
                a.hits += b.hits
                b.merged = True
                merged.append((b.track_id, a.track_id))
        return merged

    def _duplicates(self, a: ObjectTrack, b: ObjectTrack) -> bool:
        if _similarity(a.box, b.box) < self.cfg.merge_overlap:
            return False
        diag = math.hypot(a.box[2] - a.box[0], a.box[3] - a.box[1]) or 1.0
        dv = math.hypot(a.velocity[0] - b.velocity[0], a.velocity[1] - b.velocity[1]) / diag
        if dv > self.cfg.merge_velocity:     # crossing people overlap but move apart
            return False
        app = appearance_distance(a.appearance, b.appearance)
        return app is None or app <= self.cfg.appearance_max

    def flush(self) -> list[ObjectTrack]:
        self.removed, self.tracks = self.tracks, []
        return self.removed
