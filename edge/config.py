"""The edge agent's one typed configuration tree.

Loaded from YAML (``--config``) plus ``VIGIL_EDGE__*`` environment overrides,
e.g. ``VIGIL_EDGE__CLOUD__TOKEN=...``. A camera URL of ``sample:bikes.mp4``
means one of the bundled sample clips (fetched on first use).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.events.config import EventsConfig
from edge.gate.config import GateConfig
from edge.link_config import CloudLinkConfig
from edge.live.config import LiveConfig
from edge.metrics_config import MetricsConfig
from edge.sources.config import CameraConfig
from edge.transmit.config import TransmitConfig
from vigil.demo_secrets import demo_secret_keys
from vigil.logs import LogFormat
from vigil.settings import load_config

ENV_PREFIX = "VIGIL_EDGE"
SAMPLE_PREFIX = "sample:"


def _default_cameras() -> list[CameraConfig]:
    return [CameraConfig(id="cam-1", name="Sample: city cycling", url=SAMPLE_PREFIX + "bikes.mp4", fps=5.0)]


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cameras: list[CameraConfig] = Field(default_factory=_default_cameras, description="the cameras this agent reads")
    gate: GateConfig = Field(default_factory=GateConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    transmit: TransmitConfig = Field(default_factory=TransmitConfig)
    cloud: CloudLinkConfig = Field(default_factory=CloudLinkConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    log_level: str = Field("INFO", description="Python logging level (DEBUG, INFO, WARNING, ...)")
    log_format: LogFormat = Field("text", description="text for people, json for log shippers")
    demo: bool = Field(False, description="allow the published demo token (vigil-edge refuses it otherwise)")
    status_interval_s: float = Field(30.0, ge=0.0, description="log one status line per camera this often (0 = never)")
    health_port: int | None = Field(None, ge=0, le=65535, description="serve GET /healthz (JSON camera and link status) on this port (null = off)")
    health_host: str = Field("127.0.0.1", description="address the health endpoint binds to (0.0.0.0 inside a container)")

    def demo_secret_keys(self) -> list[str]:
        return demo_secret_keys({"cloud.token": self.cloud.token})

    @model_validator(mode="after")
    def _unique_cameras(self) -> "EdgeConfig":
        ids = [c.id for c in self.cameras]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"camera ids must be unique; repeated: {dup}")
        if not self.cameras:
            raise ValueError("at least one camera is needed (cameras: [...])")
        return self


def resolve_camera_url(cam: CameraConfig) -> CameraConfig:
    """Replace ``sample:<clip>`` by the clip's local path."""
    if isinstance(cam.url, str) and cam.url.startswith(SAMPLE_PREFIX):
        from vigil.footage import clip_path
        return cam.model_copy(update={"url": str(clip_path(cam.url[len(SAMPLE_PREFIX):]))})
    return cam


def load_edge_config(path: str | Path | None = None, environ=None, overrides: dict | None = None) -> EdgeConfig:
    return load_config(EdgeConfig, path, env_prefix=ENV_PREFIX, environ=environ, overrides=overrides)
