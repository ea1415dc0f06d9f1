"""Two-stage alert lifecycle under one alert id.

``detected`` goes out the moment the first packet of an event reaches the
cloud; ``described`` goes out exactly once: with the model's description, or
with ``description_status`` ``timeout`` and a ``timeout_reason`` (``deadline``
when the describe deadline passes first, ``overloaded`` when the describe queue
shed it), or ``error`` when the model failed. A description that arrives after
its timeout is logged and dropped (the user already got the fallback).

The manager is plain bookkeeping: it is driven by calls (``on_packet`` with one typed
``EventPacket``, plain data built once from the wire packet,
``on_description``, ``expire``) and hands alerts to an emitter callable, so it
is tested without sockets, threads or timers.

Restarts: the emitter commits every stage to the durable outbox, and a new
manager asks it (``lookup``) before treating an event as new, so a packet
replayed after a restart never emits a second ``detected`` nor a ``described``
that contradicts one already sent. Alerts left open by the previous process
are ``restore``d with their original deadline and finish normally.

A ``described`` stage the emitter could not commit (a full disk) is not lost: the alert keeps it
as ``unsaved`` and every ``expire`` tries to commit it again, with the status it had (a
description that came back stays ``ok``); no timeout overrides it. One alert failing does not
stop ``expire`` from finishing the others: it returns what failed, for the caller to log with
the alert it concerns. If the process dies first, the outbox still holds the alert as open and
the next process finishes it (``restore``), so a described stage never vanishes.

Honesty: ``model`` names the describing model and whether it sees images; a
description from one that does not is replaced by what the edge measured, and
its threat level stays at the floor (cloud/alerts/seeing.py).

The object's lifecycle follows the edge's event stages (docs/events.md): a packet
whose hints say ``event_stage == "update"`` with an ``escalation`` is an ``updated``
stage (one per edge packet: its key carries the packet's sequence, so a resent
packet is not a second update), and the first packet saying ``event_stage == "end"``
is the ``ended`` stage (``ended_at``, ``duration_s``, ``merged_into``). ``detected``
always comes first: an event whose first packet to arrive is an update or its end
gets ``detected`` from that packet, then the stage. An update that arrives after
the end is logged and not sent (``ended`` is the object's last word). The
description is independent of both: ``described`` goes out when it is ready,
before or after ``ended`` (descriptions are asynchronous; the object's end never
waits for one). ``updated`` and ``ended`` carry the description as it stands.

A second description (``redescribed``, after ``described``): the describe path tells the manager which
frame the description is made from (``note_view``), asks ``redescribe_reason`` whether a later frame is
worth describing again (the pure rule: cloud/answer/redescribe_policy.py), and hands the answer to
``on_redescription``, which commits one ``redescribed`` stage per (alert, edge sequence), like
``updated``. It is extra: one that cannot be committed is logged and dropped (the alert already has its
description); it never changes the alert's ``described`` stage nor its status.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cloud.alerts.alert import Alert
from cloud.answer.redescribe_policy import FrameView, RedescribeReason, RedescribeRule, redescribe_reason
from cloud.alerts.seeing import ModelCard, honest_description
from cloud.answer.event_packet import EventPacket

log = logging.getLogger("vigil.alerts")


def alert_id_for(edge_id: str, camera_id: str, event_id: str) -> str:
    """Deterministic id: a replayed or re-routed packet maps to the same alert."""
    return hashlib.sha1(f"{edge_id}/{camera_id}/{event_id}".encode()).hexdigest()[:20]


@dataclass
class _Open:
    alert: Alert
    deadline: float
    describing: bool = False
    finished: bool = False
    unsaved: Alert | None = None      # a `described` stage the emitter could not commit yet
    extra: dict[str, Any] = field(default_factory=dict)
    updates: set[int] = field(default_factory=set)   # edge sequences already sent as `updated`
    ended: bool = False
    last_at: float = 0.0                              # when its latest stage went out (forgetting waits for it)
    view: FrameView | None = None                     # the frame its latest description is made from
    redescribed: set[int] = field(default_factory=set)   # edge sequences already sent as `redescribed`


class AlertManager:
    def __init__(self, emit: Callable[[Alert], None], describe_deadline_s: float = 30.0,
                 clock: Callable[[], float] = time.time, retain_s: float = 3600.0,
                 lookup: Callable[[str], Alert | None] | None = None,
                 model: Callable[[], ModelCard | None] = lambda: None,
                 view_lookup: Callable[[str], FrameView | None] | None = None):
        self._emit = emit
        self._view_lookup = view_lookup   # the committed view of an alert's latest description (scale-out)
        self._model = model
        self.describe_deadline_s = describe_deadline_s
        self._clock = clock
        self._retain_s = retain_s
        self._lookup = lookup
        self._alerts: dict[str, _Open] = {}
        self.failed: dict[str, Exception] = {}   # alert id -> why its stage was not committed (last expire)

    def restore(self, alerts: list[Alert]) -> int:
        """Take over alerts a previous process left open (``detected`` sent, ``described`` not)."""
        n = 0
        for a in alerts:
            if a.alert_id not in self._alerts and a.stage == "detected":
                self._alerts[a.alert_id] = _Open(alert=a, deadline=a.emitted_at + self.describe_deadline_s)
                n += 1
        return n

    def _known(self, aid: str) -> bool:
        """In memory, or committed by an earlier process (then cached here)."""
        if aid in self._alerts:
            return True
        prior = self._lookup(aid) if self._lookup else None
        if prior is None:
            return False
        self._alerts[aid] = _Open(alert=prior, deadline=prior.emitted_at + self.describe_deadline_s,
                                  finished=prior.stage == "described")
        return True

    def on_packet(self, packet: EventPacket) -> tuple[str, bool]:
        """Record a packet of an event; emits ``detected`` for a new event, then ``updated`` or ``ended``
        when the packet is an escalation or the object's end. Returns (alert_id, is_new)."""
        aid = alert_id_for(packet.edge_id, packet.camera_id, packet.event_id)
        hints, detections, sequence = dict(packet.hints), list(packet.detections), packet.sequence
        is_new = not self._known(aid)
        if is_new:
            now = self._clock()
            alert = Alert(alert_id=aid, stage="detected", edge_id=packet.edge_id, camera_id=packet.camera_id,
                          event_id=packet.event_id, event_onset=packet.event_onset, labels=dict(packet.labels),
                          detections=list(detections), severity=packet.severity, hints=hints, emitted_at=now)
            self._emit(alert)  # commits it; if that raises, the event stays new for the packet's resend
            self._alerts[aid] = _Open(alert=alert, deadline=now + self.describe_deadline_s, last_at=now)
        stage = hints.get("event_stage")
        if stage == "update" and hints.get("escalation"):
            self._updated(aid, detections, hints, sequence)
        elif stage == "end":
            self._ended(aid, detections, hints)
        return aid, is_new

    def _updated(self, aid: str, detections: list[dict], hints: dict, sequence: int) -> None:
        rec = self._alerts[aid]
        if sequence in rec.updates:
            return
        if rec.ended:
            log.info("update %d of alert %s arrived after its end: not sent", sequence, aid)
            return
        self._emit(self._stage(rec, "updated", detections, hints, sequence=sequence,
                               escalation=str(hints.get("escalation", ""))))
        rec.updates.add(sequence)   # only once committed: a packet whose commit failed is resent and retried

    def _ended(self, aid: str, detections: list[dict], hints: dict) -> None:
        rec = self._alerts[aid]
        if rec.ended:
            return
        ended_at, duration = float(hints.get("ended_at") or 0.0), float(hints.get("duration_s") or 0.0)
        self._emit(self._stage(rec, "ended", detections, hints, ended_at=ended_at or None,
                               duration_s=duration if ended_at else None,
                               merged_into=str(hints.get("merged_into", ""))))
        rec.ended = True

    def _stage(self, rec: _Open, stage: str, detections: list[dict], hints: dict, **lifecycle) -> Alert:
        """A lifecycle stage: the alert's identity and description as they stand, the packet's view of the object
        (its boxes and hints). Labels and severity stay the alert's, as sink filters read them: a receiver
        gets all of an alert's stages or none (the packet's counts and severity are in its hints)."""
        now = self._clock()
        rec.last_at = now
        return Alert(**{**rec.alert.to_dict(), "stage": stage, "detections": list(detections), "hints": hints,
                        "emitted_at": now, **lifecycle})

    def claim_description(self, alert_id: str) -> bool:
        """True exactly once per alert: the caller should start describing it."""
        rec = self._alerts.get(alert_id)
        if rec is None or rec.describing or rec.finished:
            return False
        rec.describing = True
        return True

    def forget(self, alert_id: str) -> None:
        """Another process describes this alert: drop it here, so this one neither describes it nor times
        it out (a later packet of it is looked up again)."""
        self._alerts.pop(alert_id, None)

    def recall_described(self, alert_id: str) -> bool:
        """Look a forgotten alert up again: True when its description is committed (it is held again, finished:
        a later frame may be worth a second description); an alert still being described elsewhere stays forgotten."""
        if not self._known(alert_id):
            return False
        if self._alerts[alert_id].finished:
            return True
        del self._alerts[alert_id]
        return False

    def is_open(self, alert_id: str) -> bool:
        rec = self._alerts.get(alert_id)
        return rec is not None and not rec.finished

    def on_description(self, alert_id: str, description: dict) -> bool:
        return self._finish(alert_id, "ok", description=description)

    def on_description_failed(self, alert_id: str, error: str) -> bool:
        return self._finish(alert_id, "error", error=error)

    def on_timeout(self, alert_id: str, reason: str, detail: str) -> bool:
        """No description will come: ``reason`` is ``overloaded`` or ``deadline``. True if this closed the alert."""
        return self._finish(alert_id, "timeout", error=detail, reason=reason)

    def deadline_of(self, alert_id: str) -> float | None:
        """Unix seconds when the alert's description is due (None when unknown)."""
        rec = self._alerts.get(alert_id)
        return rec.deadline if rec is not None else None

    def expire(self) -> int:
        """Commit the ``described`` stages that could not be committed before, and emit ``timeout`` for
        every other open alert past its deadline; returns how many were finished. Alerts whose stage
        could not be committed this time are in ``self.failed`` (alert id -> error) and stay open."""
        now = self._clock()
        self.failed = {}
        done = 0
        for aid, rec in list(self._alerts.items()):
            if rec.finished:
                continue
            if rec.unsaved is not None:
                done += self._commit(aid, rec, rec.unsaved)
            elif rec.deadline <= now:
                detail = f"no description within {self.describe_deadline_s:g}s"
                if self._finish(aid, "timeout", error=detail, reason="deadline") and rec.finished:
                    done += 1
                    log.warning("no description for alert %s: deadline: %s", aid, detail)
        self._forget_old(now)
        return done

    def _finish(self, alert_id: str, status: str, *, description: dict | None = None, error: str = "",
                reason: str = "") -> bool:
        rec = self._alerts.get(alert_id)
        if rec is None:
            log.warning("description for unknown alert %s dropped", alert_id)
            return False
        if rec.finished or rec.unsaved is not None:
            if status == "ok":
                log.info("late description for alert %s dropped (already %s)", alert_id,
                         (rec.unsaved or rec.alert).description_status)
            return False
        base = rec.alert
        card = self._model()
        if description is not None:
            description = honest_description(description, card, labels=base.labels, hints=base.hints)
        described = Alert(**{**base.to_dict(), "stage": "described", "description": description,
                             "description_status": status, "description_error": error, "timeout_reason": reason,
                             "emitted_at": self._clock(), "model": card.to_dict() if card else None})
        rec.unsaved = described
        if not self._commit(alert_id, rec, described):
            log.warning("alert %s: described stage (%s) not committed (%s: %s); tried again until it is",
                        alert_id, status, type(self.failed[alert_id]).__name__, self.failed[alert_id])
        return True   # the outcome is taken (committed, or kept until it can be)

    def _commit(self, alert_id: str, rec: _Open, described: Alert) -> bool:
        """Emit the `described` stage; on failure it stays ``unsaved`` (the next ``expire`` tries again)."""
        try:
            self._emit(described)
        except Exception as exc:
            self.failed[alert_id] = exc
            return False
        rec.unsaved = None
        rec.finished = True
        rec.alert = described
        return True

    def _forget_old(self, now: float) -> None:
        """Drop described alerts quiet for ``retain_s`` (a later packet of theirs is looked up again)."""
        old = [aid for aid, rec in self._alerts.items()
               if rec.finished and now - max(rec.alert.emitted_at, rec.last_at) > self._retain_s]
        for aid in old:
            del self._alerts[aid]

    # -- a second description (cloud/answer/redescribe_policy.py) ------------------------------------------
    def note_view(self, alert_id: str, view: FrameView) -> None:
        """The first description is being made from a frame with this ``view`` (the newest one queued wins)."""
        rec = self._alerts.get(alert_id)
        if rec is not None and not rec.finished:
            rec.view = view

    def redescribe_reason(self, alert_id: str, rule: RedescribeRule, *, stage: str, escalation: str, sequence: int,
                          view: FrameView) -> RedescribeReason | None:
        """Why the frame of packet ``sequence`` (its ``view``) should be described again, or None."""
        rec = self._alerts.get(alert_id)
        if rec is None or sequence in rec.redescribed or (rec.ended and stage == "update"):
            return None
        first_done = rec.finished and rec.alert.description_status == "ok"
        # Another process may have described it (or again, from a newer frame): its committed view wins.
        described = (self._view_lookup(alert_id) if self._view_lookup and first_done else None) or rec.view
        return redescribe_reason(rule, stage=stage, escalation=escalation, first_done=first_done,
                                 described=described, now=view)

    def view_of(self, alert_id: str) -> FrameView | None:
        """The view of the frame the alert's latest description is made from (committed with it, scale-out)."""
        rec = self._alerts.get(alert_id)
        return rec.view if rec is not None else None

    def on_redescription(self, alert_id: str, *, reason: str, sequence: int, description: dict,
                         view: FrameView | None = None) -> bool:
        """Commit the ``redescribed`` stage of packet ``sequence``'s frame; False when it is not sent (a repeat,
        an alert no longer held, or a commit that failed: a second description is not retried)."""
        rec = self._alerts.get(alert_id)
        if rec is None or not rec.finished or sequence in rec.redescribed:
            return False
        card = self._model()
        base = rec.alert
        description = honest_description(description, card, labels=base.labels, hints=base.hints)
        now = self._clock()
        alert = Alert(**{**base.to_dict(), "stage": "redescribed", "description": description,
                         "description_status": "ok", "description_error": "", "timeout_reason": "",
                         "emitted_at": now, "model": card.to_dict() if card else None, "sequence": sequence,
                         "redescribe_reason": reason})
        before = rec.view
        if view is not None:
            rec.view = view   # set before the emit, which may commit it with the stage (view_of)
        try:
            self._emit(alert)
        except Exception as exc:   # noqa: BLE001 - the alert keeps its first description
            rec.view = before
            log.warning("alert %s: second description (%s) not committed (%s: %s); dropped",
                        alert_id, reason, type(exc).__name__, exc)
            return False
        rec.redescribed.add(sequence)
        rec.last_at = now
        # Later stages (`updated`, `ended`) carry the description as it now stands.
        rec.alert = Alert(**{**base.to_dict(), "description": description, "model": alert.model})
        return True

    @property
    def open_count(self) -> int:
        return sum(1 for rec in self._alerts.values() if not rec.finished)
