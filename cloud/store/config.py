"""Where events are kept and for how long."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path | None = Field(Path("var/events.db"), description="SQLite (WAL) file of events and their images, beside the alert outbox (null = in memory, lost at exit)")
    retention_days: float = Field(14.0, gt=0, description="events (and their images) older than this many days are deleted")
    retention_bytes: int = Field(2048 * MIB, ge=MIB, description="oldest events are deleted while images and events together exceed this")
    sweep_interval_s: float = Field(60.0, gt=0, description="how often retention is applied")
    max_images_per_event: int = Field(16, ge=1, description="images kept per event; later ones replace the oldest of the same kind")
