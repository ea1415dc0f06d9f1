"""Two-stage alert lifecycle under one alert id.

``detected`` goes out the moment the first packet of an event reaches the
cloud; ``described`` goes out exactly once: with the model's description, or
with ``description_status`` ``timeout`` and a ``timeout_reason`` (``deadline``
when the describe deadline passes first, ``overloaded`` when the describe queue
shed it), or ``error`` when the model failed. A description that arrives after
its timeout is logged and dropped (the user already got the fallback).

The manager is plain bookkeeping: it is driven by calls (``on_packet``,
``on_description``, ``expire``) and hands alerts to an emitter callable, so it
is tested without sockets, threads or timers.

Restarts: the emitter commits every stage to the durable outbox, and a new
manager asks it (``lookup``) before treating an event as new, so a packet
replayed after a restart never emits a second ``detected`` nor a ``described``
that contradicts one already sent. Alerts left open by the previous process
are ``restore``d with their original deadline and finish normally.

Honesty: ``model`` names the describing model and whether it sees images; a
description from one that does not is replaced by what the edge measured, and
its threat level stays at the floor (cloud/alerts/seeing.py).
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cloud.alerts.alert import Alert
from cloud.alerts.seeing import ModelCard, honest_description

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
    extra: dict[str, Any] = field(default_factory=dict)


class AlertManager:
    def __init__(self, emit: Callable[[Alert], None], describe_deadline_s: float = 30.0,
                 clock: Callable[[], float] = time.time, retain_s: float = 3600.0,
                 lookup: Callable[[str], Alert | None] | None = None,
                 model: Callable[[], ModelCard | None] = lambda: None):
        self._emit = emit
        self._model = model
        self.describe_deadline_s = describe_deadline_s
        self._clock = clock
        self._retain_s = retain_s
        self._lookup = lookup
        self._alerts: dict[str, _Open] = {}

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

    def on_packet(self, *, edge_id: str, camera_id: str, event_id: str, event_onset: float,
                  labels: dict[str, int], detections: list[dict], severity: float,
                  hints: dict | None = None) -> tuple[str, bool]:
        """Record a packet of an event; emits ``detected`` for a new event. Returns (alert_id, is_new)."""
        aid = alert_id_for(edge_id, camera_id, event_id)
        if self._known(aid):
            return aid, False
        now = self._clock()
        alert = Alert(alert_id=aid, stage="detected", edge_id=edge_id, camera_id=camera_id,
                      event_id=event_id, event_onset=event_onset, labels=dict(labels),
                      detections=list(detections), severity=severity, hints=dict(hints or {}),
                      emitted_at=now)
        self._emit(alert)  # commits it; if that raises, the event stays new for the packet's resend
        self._alerts[aid] = _Open(alert=alert, deadline=now + self.describe_deadline_s)
        return aid, True

    def claim_description(self, alert_id: str) -> bool:
        """True exactly once per alert: the caller should start describing it."""
        rec = self._alerts.get(alert_id)
        if rec is None or rec.describing or rec.finished:
            return False
        rec.describing = True
        return True

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
        """Emit ``timeout`` for every open alert past its deadline; returns how many."""
        now = self._clock()
        due = [aid for aid, rec in self._alerts.items() if not rec.finished and rec.deadline <= now]
        for aid in due:
            detail = f"no description within {self.describe_deadline_s:g}s"
            if self._finish(aid, "timeout", error=detail, reason="deadline"):
                log.warning("no description for alert %s: deadline: %s", aid, detail)
        self._forget_old(now)
        return len(due)

    def _finish(self, alert_id: str, status: str, *, description: dict | None = None, error: str = "",
                reason: str = "") -> bool:
        rec = self._alerts.get(alert_id)
        if rec is None:
            log.warning("description for unknown alert %s dropped", alert_id)
            return False
        if rec.finished:
            if status == "ok":
                log.info("late description for alert %s dropped (already %s)", alert_id,
                         rec.alert.description_status)
            return False
        base = rec.alert
        card = self._model()
        if description is not None:
            description = honest_description(description, card, labels=base.labels, hints=base.hints)
        described = Alert(**{**base.to_dict(), "stage": "described", "description": description,
                             "description_status": status, "description_error": error, "timeout_reason": reason,
                             "emitted_at": self._clock(), "model": card.to_dict() if card else None})
        self._emit(described)
        rec.finished = True
        rec.alert = described
        return True

    def _forget_old(self, now: float) -> None:
        old = [aid for aid, rec in self._alerts.items() if rec.finished and now - rec.alert.emitted_at > self._retain_s]
        for aid in old:
            del self._alerts[aid]

    @property
    def open_count(self) -> int:
        return sum(1 for rec in self._alerts.values() if not rec.finished)
