"""Adaptive FIFO baseline: DAT's encoder ladder and size model, arrival order, one frame per camera.

What a careful engineer deploys without semantic classes, in the way adaptive-bitrate video does
it: every event frame goes as a whole frame, encoded late (when it is sent) at the best rung of
DAT's full-frame ladder whose predicted size (DAT's online :mod:`size_model`) crosses the link
in ``frame_target_s`` at the measured rate (DAT's Ack-driven
:class:`~edge.transmit.dat.estimator.BandwidthEstimator`). Queueing is bounded by coalescing:
each camera holds at most one waiting frame per event (a newer frame of the same event replaces
it; a frame of another event waits behind it, so no event goes unsent), context frames coalesce
per camera, and cameras are served in the order their waiting frame arrived. Sending is
Ack-clocked, at most one unacknowledged frame per camera, so the backlog stays here, where
coalescing can drop it, instead of in TCP buffers. No classes, deadlines or pacing.

Frames keep the class the agent gave them (the cloud describes semantic frames), so the first
frame of an event that gets through is both the frame described and the event's evidence.
"""
from __future__ import annotations

from collections import OrderedDict

from edge.transmit.base import OutgoingItem, PacketKey, TransmissionPolicy, build_packet
from edge.transmit.dat import encoder as enc
from edge.transmit.config import AdaptiveFifoConfig
from edge.transmit.dat.estimator import BandwidthEstimator
from edge.transmit.dat.size_model import SizeModelBank
from edge.transmit.retry import RetryQueue
from vigil.v1 import vigil_pb2 as pb


class AdaptiveFifoPolicy(TransmissionPolicy):
    name = "fifo_adaptive"

    def __init__(self, cfg: AdaptiveFifoConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or AdaptiveFifoConfig()
        self.estimator = BandwidthEstimator(self.cfg.estimator)
        self.sizes = SizeModelBank()
        self._waiting: OrderedDict[tuple[str, str], OutgoingItem] = OrderedDict()
        self._inflight: OrderedDict[tuple[str, int], pb.FramePacket] = OrderedDict()
        self._busy: dict[str, int] = {}          # camera -> unacknowledged frames
        self._retry: RetryQueue[pb.FramePacket] = RetryQueue()   # refused by the cloud, sent again when due
        self.stats: dict[str, int] = {"coalesced": 0, "sent": 0}

    def offer(self, item: OutgoingItem, now: float) -> None:
        key = (item.camera_id, item.event_id)
        if key in self._waiting:
            self._waiting[key] = item            # newest frame of this event, same place in line
            self.stats["coalesced"] += 1
        else:
            self._waiting[key] = item

    def _next_item(self) -> OutgoingItem | None:
        for key, item in self._waiting.items():
            if not self._busy.get(item.camera_id):
                del self._waiting[key]
                return item
        return None

    def next_packet(self, now: float) -> pb.FramePacket | None:
        refused = self._retry.pop_due(now)
        if refused is not None:
            return self._send(refused, now)
        for pkt in list(self._inflight.values()):      # resend what a disconnect left unacknowledged
            if pkt.replayed and not self._busy.get(pkt.camera_id):
                return self._send(pkt, now)
        item = self._next_item()
        if item is None:
            return None
        self.assign_sequence(item)
        src_h, src_w = item.image.shape[:2]
        model = self.sizes.for_camera(item.camera_id)
        ladder = pb.CONTEXT if not item.event_id or item.priority == pb.CONTEXT else pb.EVIDENCE
        floor = self.cfg.evidence_min_width if ladder == pb.EVIDENCE else 0
        rung = enc.choose_rung(ladder, src_w, src_h, self.estimator.rate(now) * self.cfg.frame_target_s, model,
                               min_width=floor)
        jpeg = enc.encode(item.image, rung, model)
        return self._send(build_packet(item, jpeg, rung.width, rung.height), now)

    def _send(self, pkt: pb.FramePacket, now: float) -> pb.FramePacket:
        pkt.sent_time = now
        key = (pkt.camera_id, pkt.sequence)
        self._inflight[key] = pkt
        self._busy[pkt.camera_id] = self._busy.get(pkt.camera_id, 0) + 1
        app_limited = not self._waiting
        self.estimator.on_sent(key, pkt.ByteSize(), now, app_limited=app_limited)
        self.stats["sent"] += 1
        return pkt

    def on_ack(self, ack: pb.Ack, now: float) -> None:
        key = (ack.camera_id, ack.sequence)
        pkt = self._inflight.pop(key, None)
        if pkt is None:
            return
        self._busy[pkt.camera_id] = max(0, self._busy.get(pkt.camera_id, 0) - 1)
        self.estimator.on_ack(key, now, edge_sent_time=ack.edge_sent_time or None)

    def on_refused(self, key: PacketKey, now: float, retry_at: float) -> None:
        own = (key[0], key[2])                   # this policy keys packets by (camera, sequence)
        pkt = self._inflight.pop(own, None)
        if pkt is None:
            return
        self._busy[pkt.camera_id] = max(0, self._busy.get(pkt.camera_id, 0) - 1)
        self.estimator.on_lost(own)
        self._retry.push(retry_at, pkt)

    def on_disconnect(self, now: float) -> None:
        for pkt in self._retry.drain():          # refused ones go again with the unacknowledged
            self._inflight[(pkt.camera_id, pkt.sequence)] = pkt
        for pkt in self._inflight.values():
            pkt.replayed = True
        self._busy.clear()
        self.estimator.reset_inflight()

    def pending(self) -> int:
        return len(self._waiting) + len(self._retry) + sum(1 for p in self._inflight.values() if p.replayed)

    def wake_after(self, now: float) -> float | None:
        due = self._retry.next_due()
        return None if due is None else max(0.0, due - now)

    def unacked(self) -> int:
        return len(self._inflight)
