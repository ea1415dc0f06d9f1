"""Where the edge agent serves its Prometheus metrics."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MetricsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="serve Prometheus /metrics from vigil-edge")
    host: str = Field("127.0.0.1", description="address the edge's /metrics binds to: loopback unless asked (0.0.0.0 for a Prometheus on another host)")
    port: int = Field(9108, ge=0, le=65535, description="port of the edge's /metrics")
