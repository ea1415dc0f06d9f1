"""Uplink bandwidth and RTT estimation from the cloud's per-packet ``Ack``s (DAT, arXiv 2604.05375).

The paper says only "bandwidth-aware"; we follow BBR's delivery-rate estimator because it needs
nothing but acknowledgements and stays honest when the edge has little to send:

* When a packet is handed to the transport we snapshot ``(delivered, delivered_time)``. When its
  Ack arrives, ``rate = (delivered_now - delivered_then) / (now - delivered_time_then)``: the bytes
  the path really delivered over that packet's lifetime (BBR "delivery rate sample").
* The estimate is a max-filter over the samples of the last ``window_s`` seconds (1 s, so a rate
  drop is followed within about one second). A max over *measured* samples can never exceed what
  the path has shown: the estimator never assumes more than it has seen.
* Samples taken while the sender was application-limited (nothing queued, window not full) only
  count when they raise the estimate; a quiet camera must not talk the estimate down. A packet
  sent while less than one estimated BDP was in flight counts as application-limited too: a
  short burst from an idle pipe spends a round trip filling it and under-measures. Until a
  backlogged sample exists, the estimate is ``initial_rate_bps`` (the weakest uplink we plan for),
  which is the one assumption made without measuring; a slower path corrects it with its first
  backlogged samples.
* RTT is ``now - edge_sent_time`` (the Ack echoes our own clock, so no clock sync is needed);
  ``min_rtt`` is a windowed minimum (10 s) like BBR's.
* Probing up is done by the user of the estimate: ``window_bytes()`` allows ``cwnd_gain`` x BDP in
  flight; when the link got faster, the extra in-flight data comes back as higher samples and the
  max-filter takes them (at most x``cwnd_gain`` per round trip, i.e. slowly and never blindly).
* A delay signal (GCC-like): when smoothed RTT exceeds ``min_rtt`` by ``queue_rtt_factor`` the
  path is queueing, so the link is backlogged and the Ack rate *is* its rate: the estimate is then
  ``min(max-filter, acked bytes / ack-time span over the last ack_window_s)`` times ``drain_gain``
  (to drain the standing queue). A BBR sample spans the packet's whole lifetime and so remembers a
  faster past for a while; the short ack-rate window is what makes a drop visible within ~1 s.

Pure logic: time is passed in, no clocks, sockets or threads.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class EstimatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window_s: float = Field(1.0, gt=0, description="max-filter window for delivery-rate samples")
    min_rtt_window_s: float = Field(10.0, gt=0, description="window of the min-RTT filter")
    initial_rate_bps: float = Field(256_000.0, gt=0, description="assumed before any Ack (a severe link)")
    min_rate_bps: float = Field(16_000.0, gt=0, description="floor so the edge can always send alerts")
    cwnd_gain: float = Field(2.0, ge=1.0, description="in-flight cap = gain x BDP (BBR uses 2)")
    min_window_bytes: int = Field(8_000, gt=0, description="in-flight floor: one small message + acks")
    initial_rtt_s: float = Field(0.2, gt=0, description="RTT assumed before the first Ack")
    queue_rtt_factor: float = Field(2.0, gt=1.0, description="srtt > factor x min_rtt means a standing queue")
    ack_window_s: float = Field(0.5, gt=0, description="ack-rate window used while a queue stands")
    drain_gain: float = Field(0.75, gt=0, le=1.0, description="rate multiplier while a queue stands")
    srtt_alpha: float = Field(0.125, gt=0, le=1.0, description="RFC 6298 smoothing")


@dataclass
class _SendRecord:
    size: int
    sent_time: float
    delivered: int
    delivered_time: float
    app_limited: bool


class BandwidthEstimator:
    """Delivery-rate (bytes/s) and RTT estimate of the uplink, fed by sends and Acks."""

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self.cfg = config or EstimatorConfig()
        self._inflight: dict[object, _SendRecord] = {}
        self._inflight_bytes = 0
        self._delivered = 0
        self._delivered_time: float | None = None
        self._samples: deque[tuple[float, float]] = deque()  # (time, bytes/s)
        self._rtts: deque[tuple[float, float]] = deque()      # (time, seconds)
        self._acked: deque[tuple[float, int]] = deque()       # (ack time, bytes)
        self._max_seen = 0.0
        self._estimate = self.cfg.initial_rate_bps / 8.0
        self._have_sample = False
        self.srtt: float | None = None
        self.latest_rtt: float | None = None

    # ----------------------------------------------------------------- inputs
    def on_sent(self, key: object, size: int, now: float, *, app_limited: bool = False) -> None:
        """A packet of ``size`` bytes was handed to the transport at ``now``."""
        if self._delivered_time is None or not self._inflight:
            # Idle restart: the first packet after silence must not measure the silence.
            self._delivered_time = now
        # A packet sent while less than one BDP was in flight cannot show the bottleneck's rate
        # (its sample includes a round trip of an unfilled pipe): treat it as application-limited.
        if self._inflight_bytes < self._estimate * self.min_rtt():
            app_limited = True
        self._inflight[key] = _SendRecord(size, now, self._delivered, self._delivered_time, app_limited)
        self._inflight_bytes += size

    def on_ack(self, key: object, now: float, *, edge_sent_time: float | None = None,
               size: int | None = None) -> float | None:
        """The cloud acknowledged ``key``. Returns the delivery-rate sample (bytes/s) or None."""
        rec = self._inflight.pop(key, None)
        if rec is None:
            return None  # duplicate or unknown Ack (e.g. replay after reconnect)
        self._inflight_bytes -= rec.size
        self._delivered += size if size is not None else rec.size
        self._delivered_time = now
        sent = rec.sent_time if edge_sent_time is None else edge_sent_time
        rtt = max(1e-4, now - sent)
        self.latest_rtt = rtt
        self.srtt = rtt if self.srtt is None else (1 - self.cfg.srtt_alpha) * self.srtt + self.cfg.srtt_alpha * rtt
        self._rtts.append((now, rtt))
        self._acked.append((now, rec.size))
        interval = now - rec.delivered_time
        # A sample shorter than the RTT is ack compression, not the path's rate (BBR's rule).
        interval = max(interval, now - rec.sent_time)
        if interval <= 0:
            return None
        rate = (self._delivered - rec.delivered) / interval
        if rec.app_limited and rate < self.bandwidth_max():
            return rate  # a quiet sender measures its own demand, not the path
        self._samples.append((now, rate))
        self._max_seen = max(self._max_seen, rate)
        self._have_sample = True
        self._expire(now)
        return rate

    def on_lost(self, key: object) -> None:
        """Forget an in-flight packet (connection lost; it will be re-sent under a new record)."""
        rec = self._inflight.pop(key, None)
        if rec is not None:
            self._inflight_bytes -= rec.size

    def reset_inflight(self) -> None:
        self._inflight.clear()
        self._inflight_bytes = 0
        self._delivered_time = None

    # ---------------------------------------------------------------- outputs
    def _expire(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] > self.cfg.window_s:
            self._samples.popleft()
        while self._rtts and now - self._rtts[0][0] > self.cfg.min_rtt_window_s:
            self._rtts.popleft()
        while self._acked and now - self._acked[0][0] > self.cfg.ack_window_s:
            self._acked.popleft()

    def ack_rate(self, now: float) -> float | None:
        """Bytes acked per second over the last ``ack_window_s`` (None with too few Acks)."""
        self._expire(now)
        if len(self._acked) < 3:
            return None
        span = self._acked[-1][0] - self._acked[0][0]
        if span < 0.25 * self.cfg.ack_window_s:
            return None
        return sum(b for _, b in list(self._acked)[1:]) / span

    def bandwidth_max(self) -> float:
        """Windowed max of delivery-rate samples (bytes/s), or the last estimate if none is recent."""
        if self._samples:
            self._estimate = max(r for _, r in self._samples)
        return self._estimate

    def min_rtt(self) -> float:
        if self._rtts:
            return min(r for _, r in self._rtts)
        return self.srtt if self.srtt is not None else self.cfg.initial_rtt_s

    def queueing(self) -> bool:
        """True when the smoothed RTT says a standing queue has built on the path."""
        return self.srtt is not None and self.srtt > self.cfg.queue_rtt_factor * self.min_rtt()

    def rate(self, now: float) -> float:
        """Usable sending rate in bytes/s at ``now``."""
        self._expire(now)
        if self._samples:
            est = self.bandwidth_max()
        elif self._have_sample:
            # No sample in the window: the path went quiet (outage or idle). Keep the last value but
            # never more than the highest rate ever measured.
            est = min(self._estimate, self._max_seen)
        else:
            est = self._estimate
        if self.queueing():
            ack = self.ack_rate(now)
            if ack is not None:
                est = min(est, ack)
            est *= self.cfg.drain_gain
        return max(est, self.cfg.min_rate_bps / 8.0)

    def rate_bps(self, now: float) -> float:
        return 8.0 * self.rate(now)

    def window_bytes(self, now: float) -> int:
        """In-flight cap: ``cwnd_gain`` x estimated BDP (rate x min RTT)."""
        bdp = self.rate(now) * self.min_rtt()
        return int(max(self.cfg.min_window_bytes, self.cfg.cwnd_gain * bdp))

    @property
    def inflight_bytes(self) -> int:
        return self._inflight_bytes

    @property
    def inflight_count(self) -> int:
        return len(self._inflight)

    def oldest_inflight_time(self) -> float | None:
        return min((r.sent_time for r in self._inflight.values()), default=None)

    @property
    def max_seen_rate(self) -> float:
        return self._max_seen


class Pacer:
    """Spreads sends at ``gain`` x rate. Credit for lateness is kept up to ``max_burst_s``, so a
    coarse timer (asyncio wakes late by a millisecond or two) does not quietly lower the rate."""

    def __init__(self, gain: float = 1.25, max_burst_s: float = 0.02) -> None:
        self.gain = gain
        self.max_burst_s = max_burst_s
        self.next_send_at = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_send_at

    def on_sent(self, size: int, rate: float, now: float) -> None:
        start = max(self.next_send_at, now - self.max_burst_s)
        self.next_send_at = start + size / (self.gain * max(rate, 1.0))
