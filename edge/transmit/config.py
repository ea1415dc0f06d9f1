"""Transmission settings (policy choice and its knobs)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.transmit.dat.config import DatConfig
from edge.transmit.dat.estimator import EstimatorConfig


class AdaptiveFifoConfig(BaseModel):
    """Adaptive FIFO baseline (edge/transmit/fifo_adaptive.py)."""
    model_config = ConfigDict(extra="forbid")
    frame_target_s: float = Field(0.25, gt=0, description="a frame should cross the link in this time "
                                                          "(DAT's semantic_target_s)")
    estimator: EstimatorConfig = Field(default_factory=EstimatorConfig, description="Ack-driven rate estimate (DAT's)")
    evidence_min_width: int = Field(480, ge=0,
                                    description="event frames (this policy's evidence) never narrower than this (px; "
                                                "DAT's transmit.dat.evidence_min_width); 0 = no floor")


class PriorityConfig(BaseModel):
    """Priority baseline (edge/transmit/priority.py): DAT's classes with a fixed rate and window."""
    model_config = ConfigDict(extra="forbid")
    assumed_rate_bps: float = Field(1_000_000.0, gt=0,
                                    description="provisioned uplink the encoding budgets are sized for (never measured)")
    window_bytes: int = Field(32_768, gt=0, description="fixed in-flight cap: about 2x the bandwidth-delay product "
                                                        "of the provisioned rate at a 100 ms round trip")


class TransmitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: Literal["fifo", "fifo_adaptive", "priority", "dat"] = Field(
        "dat", description="dat: semantics- and bandwidth-aware (default); baselines: fifo (naive), fifo_adaptive "
                           "(DAT's encoder, arrival order), priority (DAT's classes, no bandwidth estimate)")
    jpeg_quality: int = Field(90, ge=10, le=100, description="FIFO baseline: fixed JPEG quality of every frame")
    max_queue: int = Field(2000, ge=1, description="FIFO baseline: items held in memory before the oldest is dropped")
    dat: DatConfig = Field(default_factory=DatConfig)
    fifo_adaptive: AdaptiveFifoConfig = Field(default_factory=AdaptiveFifoConfig,
                                              description="adaptive FIFO baseline settings")
    priority: PriorityConfig = Field(default_factory=PriorityConfig, description="priority baseline settings")
