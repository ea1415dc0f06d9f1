"""DAT: semantics- and bandwidth-aware multi-stream transmission (arXiv 2604.05375).

estimator.py (Ack-driven rate/RTT), scheduler.py (classes, weights, deadlines), size_model.py +
encoder.py (adaptive encoding), spool.py (store-and-forward), policy.py (the TransmissionPolicy).
"""
from __future__ import annotations

from edge.transmit.dat.config import DatConfig


def make_dat_policy(cfg=None, **overrides):
    """Build the DAT policy from ``transmit`` config (uses ``cfg.dat`` when the tree has it)."""
    from edge.transmit.dat.policy import DatPolicy
    dat = getattr(cfg, "dat", None) if cfg is not None and not isinstance(cfg, DatConfig) else cfg
    if dat is None:
        dat = DatConfig()
    if overrides:
        dat = dat.model_copy(update=overrides)
    return DatPolicy(dat)


__all__ = ["DatConfig", "make_dat_policy"]
