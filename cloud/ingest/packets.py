"""Packet helpers of the ingest: decoding a JPEG (off the event loop, by the caller), which packets
carry an alert, and the replies a packet gets (Ack, PacketError, the Result of its description)."""
from __future__ import annotations

import cv2
import numpy as np

from vigil.v1 import vigil_pb2 as pb

# A degraded frame is decoded at half width and height (libjpeg scales while decoding: cheaper too).
REDUCED_DECODE = cv2.IMREAD_REDUCED_COLOR_2


def decode_jpeg(data: bytes, reduced: bool = False) -> np.ndarray | None:
    """RGB image (at half resolution when ``reduced``) or None when the bytes are not a decodable image."""
    if not data:
        return None
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, REDUCED_DECODE if reduced else cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def alert_bearing(pkt: pb.FramePacket) -> bool:
    """A packet of an event other than its context: the admission policy always admits these."""
    return bool(pkt.event_id) and pkt.priority != pb.CONTEXT


def ack_message(pkt: pb.FramePacket, now: float, size: int, *, duplicate: bool, admission: str = "") -> pb.CloudMessage:
    return pb.CloudMessage(ack=pb.Ack(camera_id=pkt.camera_id, sequence=pkt.sequence, run_id=pkt.run_id,
                                      receive_time=now, bytes=size, edge_sent_time=pkt.sent_time,
                                      duplicate=duplicate, admission=admission))


def error_message(pkt: pb.FramePacket | None, code: str, message: str) -> pb.CloudMessage:
    return pb.CloudMessage(error=pb.PacketError(camera_id=pkt.camera_id if pkt else "",
                                                sequence=pkt.sequence if pkt else 0,
                                                run_id=pkt.run_id if pkt else "",
                                                code=code, message=message))


def result_message(pkt: pb.FramePacket, alert_id: str, status: str, text: str) -> pb.CloudMessage:
    """The edge's Result for the described alert of ``pkt``."""
    return pb.CloudMessage(result=pb.Result(event_id=pkt.event_id, camera_id=pkt.camera_id, alert_id=alert_id,
                                            description_json=text, description_status=status))
