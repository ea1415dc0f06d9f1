"""The description engine the ``engine`` settings name, for the single process and the scale-out worker."""
from __future__ import annotations

import logging

log = logging.getLogger("vigil.cloud")


def build_engine(engine_cfg):
    """The model-free stub (``stub:<seconds>``) or the model."""
    from cloud.engine.stub import FixedLatencyEngine, stub_latency
    latency = stub_latency(engine_cfg.model)
    if latency is not None:
        log.warning("engine.model=%s: model-free stub engine, descriptions are built from edge hints only",
                    engine_cfg.model)
        return FixedLatencyEngine(latency)
    from cloud.engine.engine import DescriptionEngine
    return DescriptionEngine.from_config(engine_cfg)
