"""DAT policy settings (one pydantic sub-config, mounted under ``transmit.dat``)."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edge.transmit.dat.estimator import EstimatorConfig


class DatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    estimator: EstimatorConfig = Field(default_factory=EstimatorConfig)
    semantic_target_s: float = Field(0.25, gt=0, description="a semantic frame should cross the link in this time")
    evidence_deadline_s: float = Field(0.5, gt=0, description="evidence must arrive within this of its semantic frame")
    expected_model_latency_s: float = Field(0.0, ge=0,
                                            description="cloud model time the evidence may also use (0 = conservative)")
    evidence_min_width: int = Field(480, ge=0,
                                    description="evidence frames are never narrower than this (px; a narrower source "
                                                "is sent whole); below it JPEG quality drops instead. 0 = no floor")
    evidence_safety: float = Field(0.8, gt=0, le=1, description="share of the deadline budget evidence may fill")
    context_target_s: float = Field(0.25, gt=0, description="a context frame's share of link time")
    context_window_share: float = Field(0.5, gt=0, le=1,
                                        description="send context only while in flight < this share of the window")
    horizon_s: float = Field(2.0, gt=0, description="drop context when the backlog needs longer than this")
    promote_after_s: float = Field(10.0, gt=0, description="a waiting message competes one class higher after this")
    pacing_gain: float = Field(1.25, ge=1.0, description="pace at gain x estimated rate (probes for more, BBR-like)")
    alert_thumbnail: bool = Field(False, description="attach a tiny thumbnail to alert metadata")
    backpressure_gain: float = Field(0.5, ge=0, le=1, description="budget x (1 - gain x cloud backpressure)")
    spool_dir: Path = Field(Path("var/spool"), description="store-and-forward folder for packets queued while the link is down")
    spool_max_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024, description="spool size cap; the least important packets are evicted first")
    max_events: int = Field(10_000, ge=10, description="events remembered (so a known event never re-alerts)")
    evidence_cache_events: int = Field(32, ge=0,
                                       description="newest events whose latest frame is kept for evidence requests")
