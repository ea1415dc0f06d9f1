"""Transmission settings (policy choice and its knobs)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TransmitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: Literal["fifo", "dat"] = "fifo"
    jpeg_quality: int = Field(90, ge=10, le=100, description="FIFO baseline: fixed JPEG quality of every frame")
    max_queue: int = Field(2000, ge=1, description="items held in memory before the oldest context is dropped")
