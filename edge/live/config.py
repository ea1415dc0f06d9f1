"""Live view settings of the edge."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LiveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="answer operators' WebRTC offers with a live track per camera")
    fps: float = Field(10.0, gt=0, le=60, description="frame rate of the live tracks (the latest frame repeats when the camera is slower)")
    max_viewers_per_camera: int = Field(4, ge=1, description="concurrent live viewers of one camera; more are refused")
