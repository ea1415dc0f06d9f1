"""FIFO baseline: every gated frame, full resolution, fixed JPEG quality, arrival order.

This is what a naive edge does; DAT is measured against it. Unacknowledged
packets are resent after a disconnect (the cloud de-duplicates), so even the
baseline does not lose alerts while the process lives.
"""
from __future__ import annotations

from collections import OrderedDict, deque

from edge.transmit.base import (OutgoingItem, PacketKey, TransmissionPolicy, ack_key, build_packet, encode_jpeg,
                                packet_key)
from edge.transmit.retry import RetryQueue
from vigil.v1 import vigil_pb2 as pb


class FifoPolicy(TransmissionPolicy):
    name = "fifo"

    def __init__(self, jpeg_quality: int = 90, max_queue: int = 2000):
        super().__init__()
        self.jpeg_quality = jpeg_quality
        self.max_queue = max_queue
        self._queue: deque[OutgoingItem] = deque()
        self._inflight: OrderedDict[PacketKey, OutgoingItem] = OrderedDict()
        self._retry: RetryQueue[OutgoingItem] = RetryQueue()   # refused by the cloud, sent again when due
        self.dropped = 0

    def offer(self, item: OutgoingItem, now: float) -> None:
        self.assign_sequence(item)
        self._queue.append(item)
        while len(self._queue) > self.max_queue:
            self._queue.popleft()  # a naive FIFO loses the oldest, whatever it is
            self.dropped += 1

    def next_packet(self, now: float) -> pb.FramePacket | None:
        item = self._retry.pop_due(now)
        if item is None:
            if not self._queue:
                return None
            item = self._queue.popleft()
        jpeg = encode_jpeg(item.image, self.jpeg_quality)
        h, w = item.image.shape[:2]
        pkt = build_packet(item, jpeg, w, h)
        pkt.sent_time = now
        self._inflight[packet_key(pkt)] = item
        return pkt

    def on_ack(self, ack: pb.Ack, now: float) -> None:
        self._inflight.pop(ack_key(ack), None)

    def on_refused(self, key: PacketKey, now: float, retry_at: float) -> None:
        item = self._inflight.pop(key, None)
        if item is not None:
            self._retry.push(retry_at, item)

    def on_disconnect(self, now: float) -> None:
        # Resend what the cloud never acknowledged, in original order, ahead of newer items.
        self._queue.extendleft(reversed(self._retry.drain() + list(self._inflight.values())))
        self._inflight.clear()

    def pending(self) -> int:
        return len(self._queue) + len(self._retry)

    def wake_after(self, now: float) -> float | None:
        due = self._retry.next_due()
        return None if due is None or self._queue else max(0.0, due - now)

    def unacked(self) -> int:
        return len(self._inflight)
