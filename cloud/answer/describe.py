"""One event packet's way to its alert and description, the same in the single process
(cloud/ingest/service.py) and in the scale-out worker (cloud/scale/worker.py).

``describe_event`` raises or updates the packet's alert (its ``detected`` stage is committed when the
call returns) and, when the packet carries the frame meant for the model and the alert still needs a
description, hands back the description to run: it asks the engine and records the ``described``
stage (ok, timeout or error). The alerts and the engine are passed in (an ``AlertManager`` and
anything with ``async describe(request)``), so this floor imports neither.

Each event is described once, from the frame meant for the model, due at the alert's deadline (and
perhaps a second time, on escalation or at its end: cloud/answer/redescribe.py, which is judged
against the frame noted here).
Behind a ``QueuedEngine`` (cloud/answer/describe_pump.py) a later frame of an event still waiting
for the model replaces the queued one, and a request the queue sheds or cannot serve in time ends
as ``timeout`` with its reason (``overloaded``, ``deadline``): one WARNING line, never an error.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from typing import Awaitable, Callable

import numpy as np

from cloud.answer.describe_pump import QueuedEngine, timeout_reason
from cloud.answer.packet_facts import boxes_in_image, event_packet, packet_hints
from cloud.answer.redescribe import packet_view
from cloud.answer.request import DescribeRequest
from vigil.v1 import vigil_pb2 as pb

log = logging.getLogger("vigil.cloud")

ALERT_MEMORY_S = 300.0   # finished alerts kept in memory; older ones are looked up in the committed stages
DESCRIBABLE = (pb.SEMANTIC_FRAME, pb.PRIORITY_UNSPECIFIED)   # frames meant for the model


def describe_event(alerts, engine, stats: Counter[str], edge_id: str, pkt: pb.FramePacket,
                   image: np.ndarray | None, *, stop_at_deadline: bool = False
                   ) -> tuple[str, Callable[[], Awaitable[tuple[str, str]]] | None]:
    """The alert id of event packet ``pkt`` and, if it is to be described from ``image``, the description
    to run (``await describing()``), which returns (status, description text) for the edge's Result. It is
    a function, not a coroutine, so a caller that never runs it (a task cancelled before it started)
    leaves nothing behind.

    ``stop_at_deadline``: stop waiting for the engine at the alert's deadline and finish the alert as
    timed out (the worker frees its slot); otherwise a late answer still arrives and is recorded as
    ``timeout`` (the alert's deadline was already kept by whoever expires alerts)."""
    aid, _ = alerts.on_packet(event_packet(edge_id, pkt))
    # Describe from the frame meant for the model (an alert thumbnail or evidence is not).
    if image is None or pkt.priority not in DESCRIBABLE:
        return aid, None
    if not alerts.claim_description(aid):
        if isinstance(engine, QueuedEngine) and alerts.is_open(aid) and engine.refresh(_request(alerts, aid, pkt, image)):
            alerts.note_view(aid, packet_view(pkt, image))   # still queued: this newer frame is the one described
        return aid, None
    alerts.note_view(aid, packet_view(pkt, image))   # what a second description is judged against
    return aid, functools.partial(_describe, alerts, engine, stats, aid, _request(alerts, aid, pkt, image),
                                  stop_at_deadline)


def _request(alerts, aid: str, pkt: pb.FramePacket, image: np.ndarray) -> DescribeRequest:
    """The model's request for this frame, due when the alert's description is due."""
    deadline = alerts.deadline_of(aid) or time.time() + alerts.describe_deadline_s
    return DescribeRequest(request_id=aid, camera_id=pkt.camera_id, event_id=pkt.event_id, images=[image],
                           detections=boxes_in_image(pkt, image.shape[1], image.shape[0]),
                           hints=packet_hints(pkt), severity=float(pkt.hints.severity), deadline=deadline)


async def _describe(alerts, engine, stats: Counter[str], aid: str, req: DescribeRequest,
                    stop_at_deadline: bool) -> tuple[str, str]:
    deadline = req.deadline
    try:
        if stop_at_deadline:
            result = await asyncio.wait_for(engine.describe(req), timeout=max(0.0, deadline - time.time()))
        else:
            result = await engine.describe(req)
    except asyncio.TimeoutError as exc:
        if not stop_at_deadline:   # the engine's own error, not our wait
            return record_description(alerts, stats, aid, error=exc)
    except Exception as exc:  # the model failing must not lose the alert
        return record_description(alerts, stats, aid, error=exc)
    else:
        return record_description(alerts, stats, aid, result=result)
    stats["describe_timeouts"] += 1   # expire() sends `described` with status timeout
    alerts.expire()
    return "timeout", ""


def record_description(alerts, stats: Counter[str], aid: str, result=None,
                       error: Exception | None = None) -> tuple[str, str]:
    """The alert's `described` stage from the model's `result`, or its failure from `error` (the alert still
    goes out); returns (status, description text) for the edge's Result."""
    reason = timeout_reason(error) if error is not None else None
    if reason is not None:  # shed, or too late to compute: a timeout with its reason, not a failure
        stats[f"describe_{reason}"] += 1
        if alerts.on_timeout(aid, reason, str(error)):
            log.warning("no description for alert %s: %s: %s", aid, reason, error)
        return "timeout", ""
    if error is not None:
        log.error("describe failed for alert %s", aid, exc_info=error)
        stats["describe_errors"] += 1
        alerts.on_description_failed(aid, f"{type(error).__name__}: {error}")
        return "error", ""
    stats["described"] += 1
    ok = alerts.on_description(aid, result.description.model_dump())
    # What one description cost (docs/scheduling.md reads capacity from these lines).
    log.info("described alert %s%s: %d of %d visual tokens, %d prompt tokens, %d generated; queue %.0f ms, "
             "prefill %.0f ms, decode %.0f ms", aid, "" if ok else " (too late: already timed out)",
             result.visual_tokens, result.visual_tokens_before_prune or result.visual_tokens, result.prompt_tokens,
             result.generated_tokens, result.queue_ms, result.prefill_ms, result.decode_ms)
    return ("ok" if ok else "timeout"), result.text
