"""Priority baseline: DAT's message classes and scheduler, without bandwidth estimation or pacing.

What a careful engineer builds from DAT's first idea alone (arXiv 2604.05375: "the most important
semantic content arrives first and evidence follows") when the link is not measured: the same
offer -> class mapping (alert metadata, ROI semantic frame, full-frame evidence, coalesced context)
and the same :class:`~edge.transmit.dat.scheduler.MultiStreamScheduler`, but

* encoding budgets come from a *provisioned* uplink rate fixed in config (``assumed_rate_bps``)
  instead of an Ack-driven estimate, so the ladder rung of each class never changes;
* sending is held back only by a fixed in-flight byte window (so the queue stays in the policy,
  where it can be reordered), with no pacing.

It reuses :class:`~edge.transmit.dat.policy.DatPolicy` with the estimator and pacer swapped for
these fixed stand-ins, so the two differ in exactly those two ingredients.
"""
from __future__ import annotations

from edge.transmit.config import PriorityConfig
from edge.transmit.dat.config import DatConfig
from edge.transmit.dat.estimator import BandwidthEstimator, EstimatorConfig
from edge.transmit.dat.policy import DatPolicy


class FixedRate(BandwidthEstimator):
    """The estimator's interface with a constant rate and window (it still counts bytes in flight)."""

    def __init__(self, rate_bps: float, window_bytes: int) -> None:
        super().__init__(EstimatorConfig())
        self._fixed_rate = rate_bps / 8.0
        self._fixed_window = window_bytes

    def rate(self, now: float) -> float:
        return self._fixed_rate

    def window_bytes(self, now: float) -> int:
        return self._fixed_window


class NoPacing:
    next_send_at = 0.0

    def ready(self, now: float) -> bool:
        return True

    def on_sent(self, size: int, rate: float, now: float) -> None:
        return None


class PriorityPolicy(DatPolicy):
    name = "priority"

    def __init__(self, cfg: PriorityConfig | None = None, dat: DatConfig | None = None) -> None:
        super().__init__(dat)
        self.pcfg = cfg or PriorityConfig()
        self.estimator = FixedRate(self.pcfg.assumed_rate_bps, self.pcfg.window_bytes)
        self.pacer = NoPacing()
