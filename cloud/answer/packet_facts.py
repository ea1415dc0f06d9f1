"""What an event packet tells the alert and the model: its labels, detections and hints as plain data."""
from __future__ import annotations

from collections import Counter

from cloud.answer.event_packet import EventPacket
from vigil.v1 import vigil_pb2 as pb


def detections_to_dicts(pkt: pb.FramePacket) -> list[dict]:
    return [{"label": d.label, "score": round(float(d.score), 4), "track_id": int(d.track_id),
             "box": [d.box.x1, d.box.y1, d.box.x2, d.box.y2]} for d in pkt.detections]


def boxes_in_image(pkt: pb.FramePacket, width: int, height: int) -> list[dict]:
    """Detections mapped from source-frame pixels into the encoded image's pixels (crop + scale)."""
    crop = pkt.crop
    cx1, cy1 = crop.x1, crop.y1
    cw = (crop.x2 - crop.x1) or float(pkt.source_width or width)
    ch = (crop.y2 - crop.y1) or float(pkt.source_height or height)
    sx, sy = width / cw, height / ch
    out = []
    for d in detections_to_dicts(pkt):
        x1, y1, x2, y2 = d["box"]
        d = dict(d)
        d["box"] = [(x1 - cx1) * sx, (y1 - cy1) * sy, (x2 - cx1) * sx, (y2 - cy1) * sy]
        out.append(d)
    return out


def packet_hints(pkt: pb.FramePacket) -> dict:
    h = pkt.hints
    return {"counts": dict(h.counts), "zone": h.zone, "dwell_seconds": h.dwell_seconds,
            "camera_name": h.camera_name, "severity": h.severity, "rule": h.rule, "event_stage": h.event_stage,
            # the object's lifecycle (docs/events.md): why an update escalated; when an ended object was last seen
            "escalation": h.escalation, "ended_at": h.ended_at, "duration_s": h.duration_s, "merged_into": h.merged_into}


def packet_labels(pkt: pb.FramePacket) -> dict[str, int]:
    """The edge's counts per label, else counted from its detections."""
    return dict(pkt.hints.counts) or dict(Counter(d.label for d in pkt.detections))


def event_packet(edge_id: str, pkt: pb.FramePacket) -> EventPacket:
    """What the alerts read of ``pkt`` (from edge ``edge_id``), as one typed value."""
    return EventPacket(edge_id=edge_id, camera_id=pkt.camera_id, event_id=pkt.event_id,
                       event_onset=pkt.event_onset or pkt.capture_time, labels=packet_labels(pkt),
                       detections=tuple(detections_to_dicts(pkt)), severity=float(pkt.hints.severity),
                       hints=packet_hints(pkt), sequence=pkt.sequence)
