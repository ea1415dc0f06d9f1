"""Transmission settings (policy choice and its knobs)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.transmit.dat.config import DatConfig
from edge.transmit.fifo_adaptive import AdaptiveFifoConfig
from edge.transmit.priority import PriorityConfig


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
