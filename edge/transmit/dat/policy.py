"""DAT transmission policy: semantics- and bandwidth-aware multi-stream transmission (arXiv 2604.05375).

How an offered item becomes packets (the paper gives the classes, not the mapping; ours):

* first item of an event  -> ALERT_METADATA (event, labels, boxes, hints; no image unless
  ``alert_thumbnail``, so the cloud describes from the semantic frame, not a thumbnail)
  + SEMANTIC_FRAME (ROI crop, encoded to cross the link in ``semantic_target_s``; the cloud draws
  the boxes it carries)
  + EVIDENCE (the same key frame, full frame, as good as fits ``evidence_deadline_s`` after the
  semantic frame; deadline-ordered in the scheduler);
* an item whose hints say ``event_stage == "end"`` -> a tiny ALERT_METADATA (the end notice), and,
  when the event's best frame (the end item's frame, edge/events) is not the one its first semantic
  frame showed, a SEMANTIC_FRAME of it, flagged ``event_stage == "end"`` (the cloud may describe the
  event again from its best snapshot);
* an "update" whose hints carry an ``escalation`` (zone entry, dwell, a more severe rule, a count
  change) -> a SEMANTIC_FRAME flagged with it, coalesced per event (only the newest waits);
* an explicit EVIDENCE item of a known event -> EVIDENCE without deadline;
* any other item -> CONTEXT, coalesced per camera (only the newest waits).

Encoding is late-bound: a message is encoded when it is chosen, with the budget of that moment
(:mod:`edge.transmit.dat.encoder`). Sending is window- and pace-limited by the Ack-driven
:class:`BandwidthEstimator`, so the queue stays in the policy, where it can be reordered, instead
of in TCP buffers, where it cannot. Offline (``on_disconnect``), everything queued or in flight is
encoded and written to the :class:`Spool`; the next ``next_packet`` call (the client reconnected)
replays the spool through the scheduler, and a spooled file is deleted only on its packet's Ack. Cloud ``Hint``s cap the rate (``target_bitrate_bps``;
0 = no opinion), scale budgets down (``backpressure``), request evidence
(``evidence_event_ids``) and raise the weight of labels of interest (``classes_of_interest``).
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from enum import Enum

from edge.transmit.base import OutgoingItem, PacketKey, TransmissionPolicy, ack_key, build_packet, packet_key
from edge.transmit.dat import encoder as enc
from edge.transmit.dat.config import DatConfig
from edge.transmit.dat.estimator import BandwidthEstimator, Pacer
from edge.transmit.dat.scheduler import Message, MultiStreamScheduler
from edge.transmit.dat.size_model import SizeModelBank
from edge.transmit.dat.spool import Spool
from edge.transmit.retry import RetryQueue
from vigil.v1 import vigil_pb2 as pb

INTEREST_BOOST = 2.0   # severity multiplier for labels the cloud asked about
ALERT_BYTES = 400      # typical alert metadata packet without thumbnail


class RecipeKind(Enum):
    """What a queued message becomes when it is encoded; each kind travels in one priority class."""

    ALERT = pb.ALERT_METADATA, "first notice of an event"
    ALERT_END = pb.ALERT_METADATA, "the event ended"
    SEMANTIC = pb.SEMANTIC_FRAME, "ROI crop for the model, fast"
    EVIDENCE = pb.EVIDENCE, "full key frame, as good as the deadline allows"
    CONTEXT = pb.CONTEXT, "newest frame per camera, when the link is idle"

    @property
    def priority(self) -> int:
        return self.value[0]


@dataclass
class _Recipe:
    kind: RecipeKind
    item: OutgoingItem


@dataclass
class _EventState:
    item: OutgoingItem | None               # latest frame of the event (for evidence on request)
    severity: float
    evidence_msg: Message | None = None
    anchor: tuple[float, int] | None = None  # (semantic sent time, in-flight bytes after it)
    labels: set[str] = field(default_factory=set)
    semantic_capture: float | None = None    # capture time of the frame the first semantic frame showed


class DatPolicy(TransmissionPolicy):
    name = "dat"

    def __init__(self, cfg: DatConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DatConfig()
        self.estimator = BandwidthEstimator(self.cfg.estimator)
        self.scheduler = MultiStreamScheduler(self.cfg.promote_after_s)
        self.sizes = SizeModelBank()
        self.spool = Spool(self.cfg.spool_dir, self.cfg.spool_max_bytes)
        self._events: OrderedDict[tuple[str, str], _EventState] = OrderedDict()
        self._inflight: dict[PacketKey, tuple[pb.FramePacket, Message]] = {}
        self._retry: RetryQueue[Message] = RetryQueue()   # refused by the cloud, back in the scheduler when due
        self._offline = len(self.spool) > 0      # leftovers of a previous run are replayed first
        self.pacer = Pacer(self.cfg.pacing_gain)
        self._rate_cap: float | None = None      # bytes/s, from the cloud
        self._backpressure = 0.0
        self._interest: set[str] = set()
        self.stats: Counter[str] = Counter()

    # ----------------------------------------------------------------- helpers
    def rate(self, now: float) -> float:
        """Bytes/s the policy plans with: estimate, capped by the cloud's hint."""
        r = self.estimator.rate(now)
        if self._rate_cap is not None:
            r = min(r, self._rate_cap)
        return r

    def _budget_rate(self, now: float) -> float:
        return self.rate(now) * (1.0 - self.cfg.backpressure_gain * self._backpressure)

    def _weight(self, severity: float, labels: set[str]) -> float:
        return severity * INTEREST_BOOST if labels & self._interest else severity

    def _push(self, msg: Message, now: float) -> None:
        replaced = self.scheduler.push(msg)
        if replaced is not None:
            self.stats[f"coalesced_{pb.PriorityClass.Name(replaced.priority)}"] += 1
        if self._offline:
            self._spool_queue(now)

    def _msg(self, kind: RecipeKind, item: OutgoingItem, severity: float, now: float,
             est: int, coalesce=None) -> Message:
        return Message(priority=kind.priority, camera_id=item.camera_id, event_id=item.event_id, severity=severity,
                       created=now, est_bytes=est, payload=_Recipe(kind, item), coalesce_key=coalesce)

    def _floor(self, priority: int) -> int:
        return self.cfg.evidence_min_width if priority == pb.EVIDENCE else 0

    def _estimate(self, priority: int, item: OutgoingItem, budget: float) -> int:
        h, w = item.image.shape[:2]
        return int(enc.choose_rung(priority, w, h, budget, self.sizes.for_camera(item.camera_id),
                                   min_width=self._floor(priority)).predicted_bytes)

    # ------------------------------------------------------------------ inputs
    def offer(self, item: OutgoingItem, now: float) -> None:
        self.stats["offered"] += 1
        rate = self._budget_rate(now)
        key = (item.camera_id, item.event_id)
        stage = str(item.hints.get("event_stage") or "")
        if item.event_id and key not in self._events:
            labels = {d.label for d in item.detections} | set((item.hints.get("counts") or {}).keys())
            st = _EventState(item=item, severity=item.severity, labels=labels, semantic_capture=item.capture_time)
            self._events[key] = st
            while len(self._events) > self.cfg.max_events:
                self._events.popitem(last=False)
            self._forget_old_frames()
            sev = self._weight(item.severity, labels)
            self._push(self._msg(RecipeKind.ALERT, item, sev, now, ALERT_BYTES), now)
            self._push(self._msg(RecipeKind.SEMANTIC, item, sev, now,
                                 self._estimate(pb.SEMANTIC_FRAME, item, rate * self.cfg.semantic_target_s)), now)
            ev = self._msg(RecipeKind.EVIDENCE, item, sev, now,
                           self._estimate(pb.EVIDENCE, item, rate * self.cfg.evidence_deadline_s))
            st.evidence_msg = ev
            self._push(ev, now)
            self.stats["events"] += 1
            return
        st = self._events.get(key) if item.event_id else None
        if st is not None:
            if st.item is not None:
                st.item = item
            sev = self._weight(st.severity, st.labels)
            if stage == "end":
                self._push(self._msg(RecipeKind.ALERT_END, item, sev, now, ALERT_BYTES), now)
                if item.detections and item.capture_time != st.semantic_capture:
                    self._push(self._msg(RecipeKind.SEMANTIC, item, sev, now,
                                         self._estimate(pb.SEMANTIC_FRAME, item, rate * self.cfg.semantic_target_s),
                                         coalesce=("semantic", item.camera_id, item.event_id)), now)
                    self.stats["best_frames"] += 1
                return
            if stage == "update" and item.hints.get("escalation") and item.detections:
                sev = self._weight(max(st.severity, item.severity), st.labels)
                self._push(self._msg(RecipeKind.SEMANTIC, item, sev, now,
                                     self._estimate(pb.SEMANTIC_FRAME, item, rate * self.cfg.semantic_target_s),
                                     coalesce=("semantic", item.camera_id, item.event_id)), now)
                self.stats["escalations"] += 1
                return
            if item.priority == pb.EVIDENCE:
                self._push(self._msg(RecipeKind.EVIDENCE, item, sev, now,
                                     self._estimate(pb.EVIDENCE, item, rate * self.cfg.evidence_deadline_s)), now)
                return
        sev = self._weight(item.severity, {d.label for d in item.detections}) if item.event_id else 0.0
        self._push(self._msg(RecipeKind.CONTEXT, item, sev, now,
                             self._estimate(pb.CONTEXT, item, rate * self.cfg.context_target_s),
                             coalesce=("context", item.camera_id)), now)

    def _forget_old_frames(self) -> None:
        """Keep frames only for the newest ``evidence_cache_events`` events (memory is bounded)."""
        keep = self.cfg.evidence_cache_events
        if len(self._events) <= keep:
            return
        for i, st in enumerate(reversed(self._events.values())):
            if i < keep:
                continue
            if st.item is None:
                break  # everything older was already forgotten
            st.item, st.evidence_msg = None, None

    def _let_go(self, msg: Message) -> None:
        """An event's evidence message was encoded (sent or spooled) or shed: its state stops pointing at
        it. The message holds the event's full key frame, and the state lives for ``max_events`` events:
        kept, it would keep one frame per event for as long (hundreds of MB in an all-day run)."""
        st = self._events.get((msg.camera_id, msg.event_id))
        if st is not None and st.evidence_msg is msg:
            st.evidence_msg = None

    def on_ack(self, ack: pb.Ack, now: float) -> None:
        key = ack_key(ack)
        self.spool.done(key)   # the cloud has it (kept, or a duplicate of what it kept): the file may go
        rec = self._inflight.pop(key, None)
        if rec is None:
            return
        self.estimator.on_ack(key, now, edge_sent_time=ack.edge_sent_time or None)
        self.stats["acked"] += 1
        self.stats["acked_bytes"] += rec[0].ByteSize()
        if ack.duplicate:
            self.stats["acked_duplicate"] += 1

    def on_hint(self, hint: pb.Hint, now: float) -> None:
        if hint.target_bitrate_bps:
            self._rate_cap = hint.target_bitrate_bps / 8.0
            self.stats["hint_budget"] += 1
        self._backpressure = min(1.0, max(0.0, float(hint.backpressure)))
        if hint.classes_of_interest:
            self._interest = set(hint.classes_of_interest)
        for event_id in hint.evidence_event_ids:
            st = next((s for (cam, eid), s in self._events.items() if eid == event_id), None)
            if st is None or st.item is None:
                self.stats["evidence_request_unknown" if st is None else "evidence_request_expired"] += 1
                continue
            sev = self._weight(st.severity, st.labels)
            rate = self._budget_rate(now)
            self._push(self._msg(RecipeKind.EVIDENCE, st.item, sev, now,
                                 self._estimate(pb.EVIDENCE, st.item, rate * self.cfg.evidence_deadline_s)), now)
            self.stats["evidence_requested"] += 1

    def on_refused(self, key: PacketKey, now: float, retry_at: float) -> None:
        """Refused, not kept: the same packet goes back to the scheduler at `retry_at`, in its class."""
        rec = self._inflight.pop(key, None)
        if rec is None:
            return
        pkt, msg = rec
        self.estimator.on_lost(key)
        msg.payload, msg.est_bytes = pkt, pkt.ByteSize()
        msg.coalesce_key = None                  # numbered already: a newer frame must not replace it, nor it one
        self._retry.push(retry_at, msg)
        self.stats["refused"] += 1

    def on_disconnect(self, now: float) -> None:
        """Link lost: requeue what was in flight (same sequence numbers) and spool everything."""
        for msg in self._retry.drain():
            self.scheduler.push(msg)
        for key, (pkt, msg) in list(self._inflight.items()):
            pkt.replayed = True
            msg.payload = pkt
            msg.est_bytes = pkt.ByteSize()
            self.scheduler.push(msg)
        self._inflight.clear()
        self.estimator.reset_inflight()
        self._offline = True
        self._spool_queue(now)
        self.stats["disconnects"] += 1

    def _spool_queue(self, now: float) -> None:
        for msg in self.scheduler.drain_all():
            pkt = self._materialize(msg, now)
            self._let_go(msg)
            for ev in self.spool.put(pkt):
                self.stats[f"spool_evicted_{pb.PriorityClass.Name(ev.priority)}"] += 1

    # ----------------------------------------------------------------- output
    def next_packet(self, now: float) -> pb.FramePacket | None:
        if self._offline:  # called again: the client is connected
            self._offline = False
            for pkt in self.spool.replay():
                self.scheduler.push(Message(priority=pkt.priority or pb.CONTEXT, camera_id=pkt.camera_id,
                                            event_id=pkt.event_id, severity=pkt.hints.severity, created=now,
                                            est_bytes=pkt.ByteSize(), payload=pkt))
                self.stats["replayed"] += 1
        while (refused := self._retry.pop_due(now)) is not None:
            self.scheduler.push(refused)
        if not len(self.scheduler):
            return None
        if not self.pacer.ready(now):
            return None
        window = self.estimator.window_bytes(now)
        if self._rate_cap is not None:
            window = min(window, max(self.cfg.estimator.min_window_bytes,
                                     int(self.cfg.estimator.cwnd_gain * self._rate_cap * self.estimator.min_rtt())))
        if self.estimator.inflight_bytes >= window:
            return None
        rate = self.rate(now)
        for victim in self.scheduler.shed(now, rate, self.cfg.horizon_s):
            self.stats[f"shed_{pb.PriorityClass.Name(victim.priority)}"] += 1
            self._let_go(victim)
            if isinstance(victim.payload, pb.FramePacket):   # a replayed context frame, dropped on purpose
                self.spool.done(packet_key(victim.payload))
        head = self.scheduler.peek(now)
        if head is None:
            return None
        if head.priority == pb.CONTEXT and self.estimator.inflight_bytes > self.cfg.context_window_share * window:
            return None  # keep headroom in the pipe: a new alert must not queue behind context
        msg = self.scheduler.pop(now)
        pkt = self._materialize(msg, now)
        self._let_go(msg)
        pkt.sent_time = now
        size = pkt.ByteSize()
        key = packet_key(pkt)
        # Only context left (which we hold back on purpose) is not a backlog: such samples measure
        # our own restraint, not the path, and must not lower the estimate.
        backlog = len(self.scheduler) - self.scheduler.count(pb.CONTEXT)
        app_limited = backlog == 0 and self.estimator.inflight_bytes + size < window
        self.estimator.on_sent(key, size, now, app_limited=app_limited)
        self._inflight[key] = (pkt, msg)
        self.pacer.on_sent(size, rate, now)
        if isinstance(msg.payload, _Recipe) and msg.payload.kind is RecipeKind.SEMANTIC:
            st = self._events.get((pkt.camera_id, pkt.event_id))
            if st is not None:
                st.anchor = (now, self.estimator.inflight_bytes)
                if st.evidence_msg is not None:
                    st.evidence_msg.deadline = now + self.cfg.evidence_deadline_s
        self.stats[f"sent_{pb.PriorityClass.Name(pkt.priority)}"] += 1
        self.stats["sent_bytes"] += size
        return pkt

    def _materialize(self, msg: Message, now: float) -> pb.FramePacket:
        """Encode a message with the budget of this moment (pre-encoded packets pass through)."""
        if isinstance(msg.payload, pb.FramePacket):
            return msg.payload
        r: _Recipe = msg.payload
        item = r.item
        src_h, src_w = item.image.shape[:2]
        rate = self._budget_rate(now)
        model = self.sizes.for_camera(item.camera_id)
        crop = None
        if r.kind in (RecipeKind.ALERT, RecipeKind.ALERT_END):
            jpeg, w, h = b"", 0, 0
            if r.kind is RecipeKind.ALERT and self.cfg.alert_thumbnail:
                rung = enc.choose_rung(pb.ALERT_METADATA, src_w, src_h, rate * 0.05, model)
                jpeg, w, h = enc.encode(item.image, rung, model), rung.width, rung.height
        else:
            image = item.image
            if r.kind is RecipeKind.SEMANTIC:
                boxes = [d.box() for d in item.detections]
                crop = enc.roi_crop(src_w, src_h, boxes)
                if crop is not None:
                    image = image[crop[1]:crop[3], crop[0]:crop[2]]
                budget = rate * self.cfg.semantic_target_s
                priority = pb.SEMANTIC_FRAME
            elif r.kind is RecipeKind.EVIDENCE:
                budget = self._evidence_budget(msg, rate, now)
                priority = pb.EVIDENCE
            else:
                budget = rate * self.cfg.context_target_s
                priority = pb.CONTEXT
            ih, iw = image.shape[:2]
            rung = enc.choose_rung(priority, iw, ih, budget, model, min_width=self._floor(priority))
            jpeg, w, h = enc.encode(image, rung, model), rung.width, rung.height
            self.stats[f"predicted_bytes_{pb.PriorityClass.Name(priority)}"] += int(rung.predicted_bytes)
            self.stats[f"encoded_bytes_{pb.PriorityClass.Name(priority)}"] += len(jpeg)
        # One item becomes several packets here, so each packet takes its own number.
        pkt = build_packet(item, jpeg, w, h, crop=crop, sequence=self.next_sequence(item.camera_id))
        pkt.priority = msg.priority
        pkt.run_id = self.run_id
        if r.kind is RecipeKind.ALERT_END:
            pkt.hints.event_stage = "end"
        pkt.hints.severity = float(msg.severity)
        return pkt

    def _evidence_budget(self, msg: Message, rate: float, now: float) -> float:
        """Bytes that still arrive within the deadline after this event's semantic frame.

        Arrival of the semantic frame ~ t_s + I_s / rate (+ one-way delay); arrival of this message
        ~ now + (I_now + size) / rate (+ the same delay). Requiring the gap <= D gives
        size <= rate * (D + t_s - now) + I_s - I_now.
        """
        d = self.cfg.evidence_deadline_s + self.cfg.expected_model_latency_s
        st = self._events.get((msg.camera_id, msg.event_id))
        if st is None or st.anchor is None or st.evidence_msg is not msg:
            return self.cfg.evidence_safety * rate * d
        t_s, i_s = st.anchor
        room = rate * (d + t_s - now) + i_s - self.estimator.inflight_bytes
        return self.cfg.evidence_safety * room

    # ------------------------------------------------------------------ state
    def pending(self) -> int:
        return len(self.scheduler) + self.spool.waiting + len(self._retry)

    def unacked(self) -> int:
        return len(self._inflight)

    def wake_after(self, now: float) -> float | None:
        if self._offline:
            return 0.0
        if not len(self.scheduler):
            due = self._retry.next_due()
            return None if due is None else max(0.0, due - now)
        if not self.pacer.ready(now):
            return self.pacer.next_send_at - now
        if self.estimator.inflight_bytes >= self.cfg.context_window_share * self.estimator.window_bytes(now):
            return None  # window (or context headroom) full: the next Ack wakes the client
        return 0.0
