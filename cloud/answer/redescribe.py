"""Redescriber: runs the second description of an event that already has its first.

Which frame is worth a second description is the alerts' rule (cloud/answer/redescribe_policy.py:
an escalation, or an end whose best snapshot adds information), asked through
``AlertManager.redescribe_reason``; the answer becomes the alert's ``redescribed`` stage
(``AlertManager.on_redescription``). This file only schedules:

- The job goes through the same describe queue as first descriptions (a ``QueuedEngine``), marked
  ``second``: it waits behind every first description and is the first to be shed when the queue is
  full (cloud/answer/describe_queue.py). A shed or late second description is counted
  (``redescribe_overloaded``, ``redescribe_deadline``) and dropped, one INFO line: the alert
  already has its description, so it is never a ``timeout``.
- One job per event at a time, keyed ``<alert id>/again`` (apart from the first description's key).
  A newer frame of the event replaces the frame of its queued job (the newest wins, with its reason
  and sequence); one that arrives while the job is being computed is described after it.
- An escalation or end frame that arrives while the event's first description is being computed
  (too late to replace its frame in the queue) is kept, the newest only, and judged when that
  description is done (``first_done``): an escalation is not lost to a slow first description.
  In scale-out the first description may be computed by another worker: the frame is kept the same
  way (``defer``) and the worker calls ``first_done`` once the ledger has that description
  (cloud/scale/worker.py).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cloud.answer.redescribe_policy import FrameView, RedescribeRule, frame_view
from cloud.answer.describe_pump import timeout_reason
from cloud.answer.describe_queue import SECOND_KEY_SUFFIX
from cloud.answer.packet_facts import boxes_in_image, detections_to_dicts, packet_hints, packet_labels
from cloud.answer.request import DescribeRequest
from vigil.v1 import vigil_pb2 as pb

log = logging.getLogger("vigil.cloud")



def _lifecycle(pkt: pb.FramePacket) -> bool:
    """An escalation or an end: the packets a second description is made from."""
    h = pkt.hints
    return (h.event_stage == "update" and bool(h.escalation)) or h.event_stage == "end"


def packet_view(pkt: pb.FramePacket, image: np.ndarray | None = None) -> FrameView:
    """The view of a packet's frame (cloud/answer/redescribe_policy.py), boxes in its source frame."""
    width = pkt.source_width or pkt.width or (image.shape[1] if image is not None else 0)
    height = pkt.source_height or pkt.height or (image.shape[0] if image is not None else 0)
    return frame_view(packet_labels(pkt), detections_to_dicts(pkt), width, height)


@dataclass(frozen=True)
class _Want:
    request: DescribeRequest
    reason: str
    sequence: int
    view: FrameView


class Redescriber:
    def __init__(self, alerts, engine, stats: Counter[str], rule: RedescribeRule,
                 claim: Callable[[str, int], bool] | None = None):
        self.alerts, self.engine, self.stats, self.rule = alerts, engine, stats, rule
        # (alert id, sequence) -> whether this process may compute it (scale-out: the ledger's lease, so two
        # workers never both do); None: it alone decides.
        self.claim = claim
        self._next: dict[str, _Want] = {}       # alert id -> the newest frame not yet handed to the engine
        self._current: dict[str, _Want] = {}    # alert id -> what its job in the engine stands for now
        self._tasks: dict[str, asyncio.Task] = {}
        # alert id -> the newest escalation/end frame that came while its first description was computed
        self._deferred: dict[str, tuple[pb.FramePacket, np.ndarray]] = {}

    def offer(self, aid: str, pkt: pb.FramePacket, image: np.ndarray) -> str | None:
        """Describe ``pkt``'s frame again if the rule says so; returns the reason, or None."""
        view = packet_view(pkt, image)
        reason = self.alerts.redescribe_reason(aid, self.rule, stage=pkt.hints.event_stage,
                                               escalation=pkt.hints.escalation, sequence=int(pkt.sequence), view=view)
        if reason is None:
            if self._behind_first(aid, pkt):
                self._deferred[aid] = (pkt, image)
            return None
        if self.claim is not None and not self.claim(aid, int(pkt.sequence)):
            self.stats["redescribe_skipped"] += 1   # another worker computes it, or committed it
            return None
        want = _Want(self._request(aid, pkt, image), reason, int(pkt.sequence), view)
        if aid in self._tasks and self.engine.refresh(want.request):   # still queued: this newer frame instead
            self._current[aid] = want
            self.stats["redescribe_coalesced"] += 1
            return reason
        self._next[aid] = want   # the task takes it next (now, or after the frame it is computing)
        if aid not in self._tasks:
            self._tasks[aid] = asyncio.get_running_loop().create_task(self._run(aid))
        return reason

    def first_done(self, aid: str) -> str | None:
        """The event's first description is done (or gave up): judge the frame kept meanwhile, if any."""
        kept = self._deferred.pop(aid, None)
        return self.offer(aid, *kept) if kept is not None else None

    def defer(self, aid: str, pkt: pb.FramePacket, image: np.ndarray) -> bool:
        """Keep an escalation or end frame until ``first_done`` (the newest only); True when kept."""
        if not _lifecycle(pkt):
            return False
        self._deferred[aid] = (pkt, image)
        return True

    def deferred(self) -> list[str]:
        """The alerts with a frame kept for after their first description."""
        return list(self._deferred)

    def drop_deferred(self, aid: str) -> bool:
        return self._deferred.pop(aid, None) is not None

    def _behind_first(self, aid: str, pkt: pb.FramePacket) -> bool:
        """An escalation or end frame the first description (being computed now) will not see."""
        return _lifecycle(pkt) and self.alerts.is_open(aid) and not self.engine.queued(aid)

    def tasks(self) -> list[asyncio.Task]:
        return list(self._tasks.values())

    def close(self) -> None:
        self._deferred.clear()
        for task in self._tasks.values():
            task.cancel()

    def _request(self, aid: str, pkt: pb.FramePacket, image: np.ndarray) -> DescribeRequest:
        return DescribeRequest(request_id=aid + SECOND_KEY_SUFFIX, camera_id=pkt.camera_id, event_id=pkt.event_id,
                               images=[image], detections=boxes_in_image(pkt, image.shape[1], image.shape[0]),
                               hints=packet_hints(pkt), severity=float(pkt.hints.severity),
                               deadline=time.time() + self.alerts.describe_deadline_s)

    async def _run(self, aid: str) -> None:
        try:
            while (want := self._next.pop(aid, None)) is not None:
                self._current[aid] = want
                try:
                    result = await self.engine.describe(want.request)
                except Exception as exc:  # noqa: BLE001 - the alert keeps its first description either way
                    self._dropped(aid, want, exc)
                    continue
                want = self._current.get(aid, want)   # the frame may have been replaced while queued
                if self.alerts.on_redescription(aid, reason=want.reason, sequence=want.sequence,
                                                description=result.description.model_dump(), view=want.view):
                    self.stats["redescribed"] += 1
                    log.info("described alert %s again (%s, packet %d)", aid, want.reason, want.sequence)
        finally:
            self._tasks.pop(aid, None)
            self._current.pop(aid, None)

    def _dropped(self, aid: str, want: _Want, exc: Exception) -> None:
        reason = timeout_reason(exc)
        if reason is not None:   # shed or too late: nobody waits for it
            self.stats[f"redescribe_{reason}"] += 1
            log.info("second description of alert %s (%s) dropped: %s: %s", aid, want.reason, reason, exc)
        else:
            self.stats["redescribe_errors"] += 1
            log.warning("second description of alert %s (%s) failed: %s: %s", aid, want.reason,
                        type(exc).__name__, exc)
