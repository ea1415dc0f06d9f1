"""What an edge may send: bounds on every field of a FramePacket, checked before any work is done.

A packet that breaks a bound gets a ``PacketError`` naming the field and the limit, and is not
processed; the stream goes on. Images are bounded in pixels from the JPEG header, before the
decoder allocates anything: a 4 MB JPEG can declare 16000x16000 pixels (a decompression bomb,
~770 MB as RGB). The header walk follows ITU-T T.81 (JPEG) Annex B: markers ``FF xx``, each
segment with a 2-byte big-endian length, frame size in the SOFn segment.
"""
from __future__ import annotations

from dataclasses import dataclass

from vigil.v1 import vigil_pb2 as pb

MAX_ID_CHARS = 128            # camera_id, event_id, run_id, edge_id: ids, not payloads
MAX_DETECTIONS = 256          # boxes per packet (a crowded frame has dozens)
MAX_LABELS = 64               # distinct labels in hints.counts
MAX_LABEL_CHARS = 64          # one label
MAX_HINT_TEXT_CHARS = 256     # zone, camera_name, rule, event_stage, escalation, merged_into
MAX_COUNT = 10_000            # one label's count

SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}   # TEM, RSTn: no length field
SOI, EOI, SOS = 0xD8, 0xD9, 0xDA


@dataclass(frozen=True)
class Violation:
    code: str       # PacketError.code
    message: str


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's frame header, or None when there is no valid one before the scan."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != SOI:
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:            # fill byte
            i += 1
            continue
        if marker in STANDALONE_MARKERS:
            i += 2
            continue
        if marker in (EOI, SOS):
            return None               # scan data before any frame header: not a JPEG we decode
        length = (data[i + 2] << 8) | data[i + 3]
        if length < 2:
            return None
        if marker in SOF_MARKERS:
            if i + 9 > n:
                return None
            height = (data[i + 5] << 8) | data[i + 6]
            width = (data[i + 7] << 8) | data[i + 8]
            return (width, height) if width and height else None
        i += 2 + length
    return None


def check_image(data: bytes, max_pixels: int) -> Violation | None:
    dims = jpeg_dimensions(data)
    if dims is None:
        return Violation("CORRUPT_JPEG", f"jpeg of {len(data)} bytes has no valid frame header")
    w, h = dims
    if w * h > max_pixels:
        return Violation("TOO_LARGE_IMAGE", f"jpeg declares {w}x{h} = {w * h} pixels, over max_image_pixels={max_pixels}")
    return None


def _long(name: str, value: str, limit: int) -> Violation | None:
    if len(value) > limit:
        return Violation("INVALID", f"{name} has {len(value)} characters, over the limit of {limit}")
    return None


def check_packet(pkt: pb.FramePacket) -> Violation | None:
    """The first bound ``pkt`` breaks (image pixels are checked separately), or None."""
    if not pkt.camera_id:
        return Violation("INVALID", "camera_id is empty")
    for name, value in (("camera_id", pkt.camera_id), ("event_id", pkt.event_id), ("run_id", pkt.run_id)):
        if v := _long(name, value, MAX_ID_CHARS):
            return v
    if len(pkt.detections) > MAX_DETECTIONS:
        return Violation("INVALID", f"{len(pkt.detections)} detections, over the limit of {MAX_DETECTIONS}")
    for d in pkt.detections:
        if v := _long("detections.label", d.label, MAX_LABEL_CHARS):
            return v
    h = pkt.hints
    if len(h.counts) > MAX_LABELS:
        return Violation("INVALID", f"hints.counts has {len(h.counts)} labels, over the limit of {MAX_LABELS}")
    for label, count in h.counts.items():
        if v := _long("hints.counts label", label, MAX_LABEL_CHARS):
            return v
        if count > MAX_COUNT:
            return Violation("INVALID", f"hints.counts[{label!r}] = {count}, over the limit of {MAX_COUNT}")
    for name in ("zone", "camera_name", "rule", "event_stage", "escalation", "merged_into"):
        if v := _long(f"hints.{name}", getattr(h, name), MAX_HINT_TEXT_CHARS):
            return v
    return None


def short(text: str, limit: int = MAX_ID_CHARS) -> str:
    """``text`` cut for a log line (an over-long id must not make a megabyte log line)."""
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit} chars)"
