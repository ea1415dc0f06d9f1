"""Per-camera event lifecycle: tracks -> rules -> events with new / update / end.

Frigate keeps one event per tracked object; DAT additionally ranks streams by an
event's *semantic weight*. We combine both:
- Track rules (``object``, ``zone``, ``dwell``) give one event per track. The event
  opens ("new") on the first frame a confirmed track satisfies any rule, carries
  the most severe rule it has satisfied so far, sends an "update" when it
  escalates to a more severe rule or zone, or at most every ``update_interval_s``
  otherwise, and "end"s when its track expires (unseen ``max_age_s``).
- Count rules give one event per rule: open while at least ``min_count`` matching
  tracks are present (in the zone if given), updated when the count changes,
  ended when it drops below. A track counts until it expires (``max_age_s``), so
  one missed detection does not end and reopen a crowd event.
- Dwell in a zone is continuous presence: leaving the zone restarts the clock.
Severity = rule severity x the camera's ``severity_scale``.

One event is one object (docs/events.md): the tracker (``tracker.kind: object``,
object_tracker.py) keeps an object's track through detector flicker, short
occlusions and scene cuts, so its event is not ended and reopened; a scene cut
(scene_cut.py) holds off new events; when the tracker finds two tracks to be one
object, the younger's event ends with ``merged_into`` naming the older (or, if
only the younger had an event, the event moves to the older track). An update
that escalates says why in ``escalation``; the end carries ``ended_at`` (the last
sighting, not the moment ``max_age_s`` ran out) and the best key frame.
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import replace

from edge.detection import Detection
from edge.events.config import EventsConfig, RuleConfig
from edge.events.event import Event, EventUpdate
from edge.events.keyframe import frame_quality
from edge.events.iou_tracker import IouTracker, Track
from edge.events.object_tracker import ObjectTracker
from edge.events.scene_cut import SceneCutDetector
from edge.events.zones import in_zone
from edge.frame import Frame
from edge.gate.base import GateResult
from edge.sources.config import CameraConfig


class EventTracker:
    def __init__(self, events_cfg: EventsConfig | None = None, camera_cfg: CameraConfig | None = None,
                 tracker: IouTracker | ObjectTracker | None = None):
        self.cfg = events_cfg or EventsConfig()
        self.camera = camera_cfg or CameraConfig(id="camera", url="")
        tc = self.cfg.tracker
        self.tracker = tracker or (ObjectTracker(tc) if tc.kind == "object" else IouTracker(tc))
        self.cuts = SceneCutDetector(tc.cut_pixel_threshold, tc.cut_hist_threshold, tc.cut_hold_s) \
            if isinstance(self.tracker, ObjectTracker) else None
        self._zones = {z.name: z for z in self.camera.zones}
        for i, r in enumerate(self.cfg.rules):
            if r.zone and r.zone not in self._zones and (not r.cameras or self.camera.id in r.cameras):
                raise ValueError(f"events.rules[{i}].zone: rule {r.name!r} names zone {r.zone!r}, "
                                 f"but camera {self.camera.id!r} has zones {sorted(self._zones) or 'none'}")
        self.rules = [r for r in self.cfg.rules if not r.cameras or self.camera.id in r.cameras]
        self._track_rules = [r for r in self.rules if r.kind != "count"]
        self._count_rules = [r for r in self.rules if r.kind == "count"]
        self._track_events: dict[int, Event] = {}
        self._count_events: dict[str, Event] = {}
        self._zone_entry: dict[tuple[int, str], float] = {}
        self._seq = itertools.count(1)
        self._run = uuid.uuid4().hex[:8]      # event ids stay unique across agent restarts

    # -- helpers -------------------------------------------------------------
    def _objects(self, rule: RuleConfig) -> list[str]:
        return rule.objects or self.camera.objects

    def _new_event(self, rule: RuleConfig, t: float, zone: str) -> Event:
        eid = f"{self.camera.id}-{self._run}-{next(self._seq)}"
        return Event(event_id=eid, camera_id=self.camera.id, camera_name=self.camera.name, onset=t, rule=rule.name,
                     severity=rule.severity * self.camera.severity_scale, zone=zone, last_update=t, last_seen=t)

    def _zones_of(self, tr: Track, W: int, H: int) -> list[str]:
        return [name for name, z in self._zones.items()
                if (not z.objects or tr.label in z.objects) and in_zone(tr.box, z.polygon, W, H)]

    def _match(self, rule: RuleConfig, tr: Track, zones: list[str], t: float) -> tuple[bool, str, float]:
        """(matches, zone, dwell seconds) of ``rule`` for track ``tr``."""
        if tr.label not in self._objects(rule):
            return False, "", 0.0
        if rule.zone:
            if rule.zone not in zones:
                return False, "", 0.0
            dwell = t - self._zone_entry.get((tr.track_id, rule.zone), t)
            zone = rule.zone
        else:
            dwell = t - tr.first_seen
            zone = zones[0] if zones else ""
        if rule.kind == "dwell" and dwell < rule.dwell_s:
            return False, "", dwell
        return True, zone, dwell

    @staticmethod
    def _detection_of(tr: Track, t: float) -> Detection:
        if tr.detection is not None:
            return tr.detection
        x1, y1, x2, y2 = tr.predict(t)      # coasting: where we expect it
        return Detection(x1, y1, x2, y2, tr.label, tr.score, tr.track_id)

    def _consider_key(self, ev: Event, frame: Frame, dets: list[Detection]) -> None:
        fresh = [d for d in dets if d.track_id in ev.track_ids]
        if not fresh:
            return
        q = frame_quality(frame.image, fresh)
        if q > ev.key_quality or ev.key_frame is None:
            ev.key_quality, ev.key_frame, ev.key_detections = q, frame, [replace(d) for d in fresh]

    def _emit(self, ev: Event, stage: str, frame: Frame | None, dets: list[Detection], t: float) -> EventUpdate:
        ev.stage = stage  # type: ignore[assignment]
        if stage != "end":
            ev.last_update = t
        # The update carries a snapshot: the live Event keeps changing while the update waits in a queue.
        snap = replace(ev, labels=dict(ev.labels), track_ids=list(ev.track_ids), key_detections=list(ev.key_detections))
        ev.escalation = ""       # an escalation is said once, on the update that carries it
        return EventUpdate(snap, stage, frame, [replace(d) for d in dets])  # type: ignore[arg-type]

    def _track(self, frame: Frame, dets: list[Detection], t: float, motion: list | None = None,
               coasted: bool = False) -> list[Track]:
        if self.cuts is None:
            return self.tracker.update(dets, t)
        cut = self.cuts.update(frame.image, t)
        return self.tracker.update(dets, t, image=frame.image, cut=cut, motion=motion, coasted=coasted)

    def _fold_merges(self, t: float) -> list[EventUpdate]:
        """Two tracks found to be one object: one event survives (the older track's, else the only one)."""
        out = []
        for young, old in getattr(self.tracker, "merged", ()):
            yev = self._track_events.pop(young, None)
            oev = self._track_events.get(old)
            if yev is None:
                continue
            if oev is None:
                yev.track_ids = [old]
                self._track_events[old] = yev
                continue
            yev.merged_into = oev.event_id
            oev.onset = min(oev.onset, yev.onset)
            out.append(self._end(yev, t))
        return out

    # -- main loop -----------------------------------------------------------
    def update(self, frame: Frame, gate_result: GateResult) -> list[EventUpdate]:
        t = frame.capture_time
        W, H = frame.width, frame.height
        # The gate's motion regions, when it said how it decided (a gate result built by hand says nothing).
        motion = list(gate_result.motion_regions) if gate_result.reason else None
        coasted = gate_result.passed and not gate_result.detector_ran and bool(gate_result.reason)
        tracks = self._track(frame, list(gate_result.detections) if gate_result.passed else [], t, motion, coasted)
        fresh = [tr.detection for tr in tracks if tr.detection is not None]
        out: list[EventUpdate] = self._fold_merges(t)

        zones_by_track: dict[int, list[str]] = {}
        live_keys = set()
        for tr in tracks:
            zs = self._zones_of(tr, W, H)
            zones_by_track[tr.track_id] = zs
            for z in zs:
                self._zone_entry.setdefault((tr.track_id, z), t)
                live_keys.add((tr.track_id, z))
        self._zone_entry = {k: v for k, v in self._zone_entry.items() if k in live_keys}

        for tr in tracks:
            best: tuple[RuleConfig, str, float] | None = None
            for rule in self._track_rules:
                ok, zone, dwell = self._match(rule, tr, zones_by_track[tr.track_id], t)
                if ok and (best is None or rule.severity > best[0].severity):
                    best = (rule, zone, dwell)
            ev = self._track_events.get(tr.track_id)
            det = self._detection_of(tr, t)
            if ev is None:
                if best is None:
                    continue
                rule, zone, dwell = best
                ev = self._new_event(rule, t, zone)
                ev.track_ids, ev.labels, ev.dwell_seconds = [tr.track_id], {tr.label: 1}, dwell
                self._track_events[tr.track_id] = ev
                self._consider_key(ev, frame, fresh)
                out.append(self._emit(ev, "new", frame, [det], t))
                continue
            ev.last_seen = max(ev.last_seen, tr.last_seen)   # a detection, not a coasted guess
            self._consider_key(ev, frame, fresh)
            escalated = False
            if best is not None:
                rule, zone, dwell = best
                ev.dwell_seconds = dwell
                sev = rule.severity * self.camera.severity_scale
                if sev > ev.severity or (zone and zone != ev.zone and rule.name == ev.rule):
                    reason = "zone" if zone and zone != ev.zone and rule.kind != "dwell" else (
                        "dwell" if rule.kind == "dwell" else "rule")
                    ev.rule, ev.severity, ev.zone, escalated = rule.name, max(sev, ev.severity), zone or ev.zone, True
                    ev.escalation = reason
            else:
                ev.dwell_seconds = t - tr.first_seen
            if escalated or (tr.detection is not None and t - ev.last_update >= self.cfg.update_interval_s):
                out.append(self._emit(ev, "update", frame, [det], t))

        for rule in self._count_rules:
            objs = self._objects(rule)
            members = [tr for tr in tracks if tr.label in objs and (not rule.zone or rule.zone in zones_by_track[tr.track_id])]
            ev = self._count_events.get(rule.name)
            counts: dict[str, int] = {}
            for tr in members:
                counts[tr.label] = counts.get(tr.label, 0) + 1
            dets = [self._detection_of(tr, t) for tr in members]
            if len(members) >= rule.min_count:
                if ev is None:
                    ev = self._new_event(rule, t, rule.zone or "")
                    ev.labels, ev.track_ids = counts, [tr.track_id for tr in members]
                    self._count_events[rule.name] = ev
                    self._consider_key(ev, frame, fresh)
                    out.append(self._emit(ev, "new", frame, dets, t))
                else:
                    changed = counts != ev.labels
                    if changed:
                        ev.escalation = "count"
                    ev.labels, ev.track_ids = counts, [tr.track_id for tr in members]
                    ev.last_seen = max([ev.last_seen] + [tr.last_seen for tr in members])
                    ev.dwell_seconds = t - ev.onset
                    self._consider_key(ev, frame, fresh)
                    if changed or t - ev.last_update >= self.cfg.update_interval_s:
                        out.append(self._emit(ev, "update", frame, dets, t))
            elif ev is not None:
                out.append(self._end(self._count_events.pop(rule.name), t))

        for tr in self.tracker.removed:
            ev = self._track_events.pop(tr.track_id, None)
            if ev is not None:
                out.append(self._end(ev, t))
        return out

    def _end(self, ev: Event, t: float) -> EventUpdate:
        ev.ended_at = min(t, max(ev.last_seen, ev.onset))    # the last sighting: the object left then
        return self._emit(ev, "end", ev.key_frame, ev.key_detections, t)

    def flush(self, now: float) -> list[EventUpdate]:
        """End every open event (end of a file, camera removed, agent stopping)."""
        self.tracker.flush()
        out = [self._end(ev, now) for ev in list(self._track_events.values()) + list(self._count_events.values())]
        self._track_events.clear()
        self._count_events.clear()
        self._zone_entry.clear()
        return out

    @property
    def open_events(self) -> list[Event]:
        return list(self._track_events.values()) + list(self._count_events.values())
