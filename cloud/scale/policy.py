"""Pure decisions of the scale-out mode: what a gateway queues, admits, and what a worker claims.

No Redis, no clock, no sockets: the I/O modules (``gateway.py``, ``worker.py``, ``jobs.py``) call these
with plain data, and the tests call them the same way.

The work-queue shape is the one Redis documents for Streams consumer groups (redis.io, "Redis
Streams", sections *Consumer groups*, *Recovering from permanent failures* and *Claiming and the
delivery counter*): every entry read by a consumer sits in the group's pending list until XACK;
a consumer that dies leaves its entries there and another one takes them over (XAUTOCLAIM) once
they have been idle for a while; the delivery counter tells a poison entry (one that keeps killing
its consumers) from an unlucky one. Choices where that text leaves room:

* **Idle timeout with heartbeats.** A describe can take longer than any sensible claim timeout, so
  a live worker re-claims its own in-flight entries every ``heartbeat_s`` (XCLAIM ... JUSTID resets
  the idle time without counting a delivery); only a worker that stopped beating loses its jobs.
* **Poison after ``max_deliveries``.** An entry handed out that many times is moved to a dead
  stream (kept, like the outbox's dead letters) instead of being claimed again.
* **Backlog bound, refuse instead of trim.** ``XADD ... MAXLEN`` would silently drop accepted work,
  so the stream is never trimmed by length; workers delete what they finished, the stream's length
  is the backlog, and a gateway refuses a packet (unacknowledged: the edge still holds it) when it is full.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from cloud.answer.describe import DESCRIBABLE
from vigil.v1 import vigil_pb2 as pb

HEARTBEATS_PER_CLAIM_TIMEOUT = 3   # a worker beats three times per claim timeout: one late beat is no takeover


# -- gateway -----------------------------------------------------------------------------------
def is_job(pkt: pb.FramePacket) -> bool:
    """Whether a packet makes work for a worker: event packets do, context frames do not (the single
    process also only counts those)."""
    return bool(pkt.event_id) and pkt.priority != pb.CONTEXT


def job_keeps_image(pkt: pb.FramePacket) -> bool:
    """Only frames meant for the model travel with their JPEG; thumbnails and evidence go as metadata
    (the queue holds what the workers need, not every byte the edge sent)."""
    return pkt.priority in DESCRIBABLE


def packet_key(prefix: str, edge_id: str, camera_id: str, run_id: str, sequence: int) -> str:
    """The shared de-duplication key of one packet (same identity as cloud/ingest/dedup.py's window). The ids are
    JSON-encoded, so no choice of characters in them can make two packets share a key."""
    return f"{prefix}:seen:" + json.dumps([edge_id, camera_id, run_id, sequence], separators=(",", ":"))


@dataclass(frozen=True)
class Admission:
    """What a gateway does with a new event packet."""
    queue: bool
    code: str = ""        # PacketError code when refused
    message: str = ""


def admit(backlog: int, max_backlog: int) -> Admission:
    """Queue while the backlog is under its bound; past it refuse, loudly (the edge resends)."""
    if backlog < max_backlog:
        return Admission(True)
    return Admission(False, "OVERLOADED", f"the cloud's job queue is full ({backlog} jobs waiting for workers, "
                                          f"scale.max_backlog={max_backlog}): not accepted, resend later")


def backpressure(backlog: int, max_backlog: int) -> float:
    """The hint edges get (0 idle .. 1 full): they thin context frames before the gateway must refuse."""
    return max(0.0, min(1.0, backlog / max_backlog))


# -- worker --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingEntry:
    """One row of XPENDING's extended form."""
    entry_id: str
    consumer: str
    idle_ms: int
    deliveries: int


def heartbeat_s(claim_idle_s: float) -> float:
    return claim_idle_s / HEARTBEATS_PER_CLAIM_TIMEOUT


def describe_lease_s(claim_idle_s: float) -> float:
    """How long a worker's describe lease lasts between its heartbeats' renewals: two beats, so one late
    beat keeps it, and it lapses before a dead worker's job (idle ``claim_idle_s``) can be claimed."""
    return 2 * heartbeat_s(claim_idle_s)


def poison(pending: list[PendingEntry], claim_idle_s: float, max_deliveries: int) -> list[str]:
    """Entries abandoned (idle past ``claim_idle_s``: their worker stopped beating) after being handed
    out ``max_deliveries`` times: they go to the dead stream instead of being claimed once more."""
    idle_ms = claim_idle_s * 1000.0
    return [e.entry_id for e in pending if e.idle_ms >= idle_ms and e.deliveries >= max_deliveries]


def takeover(claimed: list[str], in_flight: set[str]) -> list[str]:
    """Of the entries XAUTOCLAIM handed us, those to start: not one we are already working on (a
    stalled loop can miss a heartbeat and re-claim its own job)."""
    return [e for e in claimed if e not in in_flight]
