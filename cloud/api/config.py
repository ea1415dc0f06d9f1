"""The operator view's HTTP API: where it listens and who may read it."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from vigil.demo_secrets import DEMO_OPERATOR_TOKEN


class ApiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="serve the HTTP API, the operator page and /metrics")
    host: str = Field("127.0.0.1", description="address the HTTP API binds to: loopback unless asked (0.0.0.0 = all interfaces, e.g. inside a container whose port is published)")
    port: int = Field(8000, ge=0, le=65535, description="HTTP API port (0 = pick a free one)")
    tokens: list[str] = Field(default_factory=lambda: [DEMO_OPERATOR_TOKEN], description="bearer tokens accepted by /api/v1 (also as ?token= for the page's event stream and images); the demo default is refused outside a demo")
    public_url: str = Field("http://localhost:8000", description="base URL of this API as receivers see it; webhook payloads link to events under it")
    live_answer_timeout_s: float = Field(10.0, gt=0, description="how long a live-view offer waits for the edge's answer")
    stream_keepalive_s: float = Field(15.0, gt=0, description="idle event streams get a comment this often, so proxies keep them open")
