"""The cloud service's one typed configuration tree.

Loaded from YAML (``--config``) plus ``VIGIL_CLOUD__*`` environment overrides
(``VIGIL_CLOUD__SERVER__PORT=50052``). Unknown keys are errors that name the key.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from cloud.api.config import ApiConfig
from cloud.engine.config import EngineConfig
from cloud.store.config import StoreConfig
from vigil.demo_secrets import DEMO_EDGE_ID, DEMO_TOKEN, demo_secret_keys
from vigil.logs import LogFormat
from vigil.settings import load_config

ENV_PREFIX = "VIGIL_CLOUD"
MIB = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = Field("0.0.0.0", description="address the gRPC server binds to")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 = pick a free one)")
    max_packet_bytes: int = Field(4 * MIB, ge=1024, description="largest FramePacket accepted; larger ones get OVERSIZED")
    transport_headroom_bytes: int = Field(4 * MIB, ge=0, description="gRPC limit = max_packet_bytes + this, so an oversized packet still reaches us and gets a per-packet error")
    dedup_window: int = Field(100_000, ge=100, description="(camera, sequence) pairs remembered for de-duplication")
    hint_interval_s: float = Field(1.0, gt=0, description="how often backpressure hints may be sent to an edge")
    evidence_request_after_s: float = Field(2.0, ge=0, description="ask the edge for evidence of a described event that has sent none after this long")


class AuthConfig(_Strict):
    tokens: dict[str, str] = Field(default_factory=lambda: {DEMO_EDGE_ID: DEMO_TOKEN}, description="edge_id -> shared token; the demo default is replaced by any real config")

    @field_validator("tokens")
    @classmethod
    def _non_empty(cls, v: dict[str, str]) -> dict[str, str]:
        for edge, tok in v.items():
            if not tok:
                raise ValueError(f"empty token for edge {edge!r}")
        return v


class WebhookConfig(_Strict):
    url: HttpUrl = Field(description="where alert stages are POSTed")
    secret: str = Field(min_length=8, description="HMAC-SHA256 key shared with the receiver")
    timeout_s: float = Field(5.0, gt=0, description="HTTP timeout of one delivery attempt")


class AlertsConfig(_Strict):
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="signed webhook receivers of every alert stage")
    describe_deadline_s: float = Field(30.0, gt=0, description="send `described` with status timeout after this")
    max_attempts: int = Field(8, ge=1, description="delivery attempts per sink before the alert is dead-lettered")
    backoff_initial_s: float = Field(0.5, gt=0, description="delay before the first delivery retry")
    backoff_max_s: float = Field(30.0, gt=0, description="longest delay between delivery retries")
    dead_letter_path: Path | None = Field(Path("var/dead_letter.jsonl"), description="JSON-lines file of alerts that could not be delivered (null = log only)")


class CloudConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    log_level: str = Field("INFO", description="Python logging level (DEBUG, INFO, WARNING, ...)")
    log_format: LogFormat = Field("text", description="text for people, json for log shippers")
    demo: bool = Field(False, description="allow the published demo token and webhook secret (vigil-cloud refuses them otherwise)")

    def demo_secret_keys(self) -> list[str]:
        """Keys holding a published demo credential (vigil-cloud refuses these unless `demo`)."""
        named = {f"auth.tokens.{edge}": tok for edge, tok in self.auth.tokens.items()}
        named.update({f"alerts.webhooks[{i}].secret": w.secret for i, w in enumerate(self.alerts.webhooks)})
        return demo_secret_keys(named)


def load_cloud_config(path: str | Path | None = None, environ=None, overrides: dict | None = None) -> CloudConfig:
    return load_config(CloudConfig, path, env_prefix=ENV_PREFIX, environ=environ, overrides=overrides)
