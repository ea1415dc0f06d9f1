"""The transmission-policy interface: the edge's only say in what goes on the uplink.

A policy receives ``OutgoingItem``s (gated frames of events, evidence,
context), learns from the cloud's ``Ack``s and ``Hint``s, and hands the client
the next ``FramePacket`` to send when the link can take one. The FIFO
baseline and DAT are two implementations of this one interface, so benchmarks
compare them by name.
"""
from __future__ import annotations

import abc
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.detection import Detection
from vigil.v1 import vigil_pb2 as pb


@dataclass
class OutgoingItem:
    camera_id: str
    event_id: str                      # "" for context frames
    priority: int                      # pb.PriorityClass value
    image: np.ndarray                  # BGR source frame
    capture_time: float
    event_onset: float
    detections: list[Detection] = field(default_factory=list)
    hints: dict[str, Any] = field(default_factory=dict)
    severity: float = 0.5
    sequence: int = 0                  # its packet's number, where one item is one packet (assign_sequence)
    run_id: str = ""                   # the numbering process (see TransmissionPolicy.run_id)
    created: float = field(default_factory=time.time)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def build_packet(item: OutgoingItem, jpeg: bytes, width: int, height: int,
                 crop: tuple[float, float, float, float] | None = None, sequence: int | None = None) -> pb.FramePacket:
    """The packet for `item`, numbered `sequence` (default: the item's own number)."""
    src_h, src_w = item.image.shape[:2]
    h = item.hints
    hints = pb.SemanticHints(counts={k: int(v) for k, v in (h.get("counts") or {}).items()},
                             zone=str(h.get("zone") or ""), dwell_seconds=float(h.get("dwell_seconds") or 0.0),
                             camera_name=str(h.get("camera_name") or ""), severity=float(item.severity),
                             rule=str(h.get("rule") or ""), event_stage=str(h.get("event_stage") or ""),
                             escalation=str(h.get("escalation") or ""), ended_at=float(h.get("ended_at") or 0.0),
                             duration_s=float(h.get("duration_s") or 0.0), merged_into=str(h.get("merged_into") or ""))
    pkt = pb.FramePacket(camera_id=item.camera_id, sequence=item.sequence if sequence is None else sequence,
                         capture_time=item.capture_time,
                         event_onset=item.event_onset, event_id=item.event_id, priority=item.priority,
                         jpeg=jpeg, width=width, height=height, source_width=src_w, source_height=src_h,
                         detections=[pb.Detection(box=pb.Box(x1=d.x1, y1=d.y1, x2=d.x2, y2=d.y2), label=d.label,
                                                  score=d.score, track_id=d.track_id) for d in item.detections],
                         hints=hints, run_id=item.run_id)
    if crop is not None:
        pkt.crop.CopyFrom(pb.Box(x1=crop[0], y1=crop[1], x2=crop[2], y2=crop[3]))
    return pkt


RUN_ID_HEX_CHARS = 16  # 64 random bits: two edge processes never share a run id in practice


def new_run_id() -> str:
    return uuid.uuid4().hex[:RUN_ID_HEX_CHARS]


PacketKey = tuple[str, str, int]


def packet_key(pkt: pb.FramePacket) -> PacketKey:
    """What identifies a packet across edge restarts: (camera, run id, sequence)."""
    return (pkt.camera_id, pkt.run_id, pkt.sequence)


def ack_key(ack: pb.Ack) -> PacketKey:
    return (ack.camera_id, ack.run_id, ack.sequence)


class TransmissionPolicy(abc.ABC):
    """Sequence contract: each process numbers its packets per camera from 1 and stamps them with
    its own ``run_id``; packets spooled by an earlier process keep their run id and sequence, so
    the cloud de-duplicates them by (camera, run id, sequence) while the new process's packets,
    numbered from 1 again, are new."""

    name: str = "policy"

    def __init__(self) -> None:
        self._next_seq: dict[str, int] = {}
        self.run_id = new_run_id()

    def next_sequence(self, camera_id: str) -> int:
        """The next packet number of `camera_id` (1, 2, ...): the one place packets are numbered.

        The cloud acknowledges and de-duplicates by (camera, run id, sequence), so every packet
        takes a new number once, and a resent packet keeps the number (and run id) it was first
        sent with.
        """
        seq = self._next_seq.get(camera_id, 0) + 1
        self._next_seq[camera_id] = seq
        return seq

    def assign_sequence(self, item: OutgoingItem) -> None:
        """Number `item` on offer, for policies that send each item as exactly one packet."""
        item.sequence = self.next_sequence(item.camera_id)
        item.run_id = self.run_id

    @abc.abstractmethod
    def offer(self, item: OutgoingItem, now: float) -> None:
        """Accept an item for transmission (never blocks)."""

    @abc.abstractmethod
    def next_packet(self, now: float) -> pb.FramePacket | None:
        """The next packet to send now, or None when nothing should go yet."""

    def on_ack(self, ack: pb.Ack, now: float) -> None:
        """The cloud received a packet."""

    def on_hint(self, hint: pb.Hint, now: float) -> None:
        """The cloud asks for a different budget or for evidence."""

    def on_disconnect(self, now: float) -> None:
        """The link went down; unacknowledged packets may need resending."""

    def on_refused(self, key: PacketKey, now: float, retry_at: float) -> None:
        """The cloud refused packet `key` without keeping it (edge.transmit.retry.RETRYABLE_CODES):
        send it again, same key, from `retry_at`. Default: it stays unacknowledged and goes again
        at the next session."""

    @abc.abstractmethod
    def pending(self) -> int:
        """Items not yet handed out (the client drains until 0 before exiting)."""

    def unacked(self) -> int:
        return 0

    def wake_after(self, now: float) -> float | None:
        """Seconds until next_packet may return something without new input (pacing); None = on input only."""
        return None
