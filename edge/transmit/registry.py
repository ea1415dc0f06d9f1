"""Policy by name (config ``transmit.policy``)."""
from __future__ import annotations

from edge.transmit.base import TransmissionPolicy
from edge.transmit.config import TransmitConfig


def make_policy(cfg: TransmitConfig) -> TransmissionPolicy:
    if cfg.policy == "fifo":
        from edge.transmit.fifo import FifoPolicy
        return FifoPolicy(jpeg_quality=cfg.jpeg_quality, max_queue=cfg.max_queue)
    if cfg.policy == "fifo_adaptive":
        from edge.transmit.fifo_adaptive import AdaptiveFifoPolicy
        return AdaptiveFifoPolicy(cfg.fifo_adaptive)
    if cfg.policy == "priority":
        from edge.transmit.priority import PriorityPolicy
        return PriorityPolicy(cfg.priority, cfg.dat)
    if cfg.policy == "dat":
        from edge.transmit.dat import make_dat_policy
        return make_dat_policy(cfg)
    raise ValueError(f"transmit.policy: unknown policy {cfg.policy!r}")
