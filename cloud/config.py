"""The cloud service's one typed configuration tree.

Loaded from YAML (``--config``) plus ``VIGIL_CLOUD__*`` environment overrides
(``VIGIL_CLOUD__SERVER__PORT=50052``). Unknown keys are errors that name the key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from cloud.api.config import ApiConfig
from cloud.engine.config import EngineConfig
from cloud.store.config import StoreConfig
from vigil.demo_secrets import DEMO_EDGE_ID, DEMO_TOKEN, demo_secret_keys
from vigil.logs import LogFormat
from vigil.settings import load_config

ENV_PREFIX = "VIGIL_CLOUD"
KIB = 1024
MIB = 1024 * KIB


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsServerConfig(_Strict):
    cert_file: Path = Field(description="PEM certificate chain of the cloud (vigil-cloud --make-ca writes server.pem)")
    key_file: Path = Field(description="PEM private key of that certificate")
    client_ca_file: Path | None = Field(None, description="mutual TLS: only edges with a certificate from this CA may connect")


class ServerConfig(_Strict):
    host: str = Field("127.0.0.1", description="address the gRPC server binds to (off loopback, TLS or plaintext: true is required)")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 = pick a free one)")
    max_packet_bytes: int = Field(4 * MIB, ge=1024, description="largest FramePacket accepted; larger ones get OVERSIZED")
    transport_headroom_bytes: int = Field(4 * MIB, ge=0, description="gRPC limit = max_packet_bytes + this, so an oversized packet still reaches us and gets a per-packet error")
    dedup_window: int = Field(100_000, ge=100, description="(camera, sequence) pairs remembered for de-duplication")
    hint_interval_s: float = Field(1.0, gt=0, description="how often backpressure hints may be sent to an edge")
    evidence_request_after_s: float = Field(2.0, ge=0, description="ask the edge for evidence of a described event that has sent none after this long")
    tls: TlsServerConfig | None = Field(None, description="TLS for the gRPC stream (required unless host is loopback or plaintext is set)")
    plaintext: bool = Field(False, description="serve without TLS on a non-loopback address (tokens and frames readable on the network; logged as a WARNING)")
    hello_timeout_s: float = Field(10.0, gt=0, description="a stream that has not said Hello within this is closed")
    max_image_pixels: int = Field(3840 * 2160 * 2, ge=1, description="JPEGs declaring more pixels (read from the header, before decoding) get TOO_LARGE_IMAGE")
    decode_threads: int = Field(2, ge=1, description="threads decoding JPEGs off the event loop")
    rate_limit_packets_per_s: float = Field(200.0, gt=0, description="per edge; above it frames are acked but not decoded (alerts still raised)")
    rate_limit_bytes_per_s: float = Field(16 * MIB, gt=0, description="per edge; same treatment as the packet limit")
    rate_limit_burst_s: float = Field(2.0, gt=0, description="seconds of the rate a burst may use at once")
    stream_window_bytes: int | None = Field(256 * KIB, ge=64 * KIB, description="HTTP/2 receive window per edge stream (window auto-growth off): what the transport buffers per edge before its writes wait, so ingest memory grows with edges x this, not with the overload (it also caps one edge at window/RTT: 256 KiB at 50 ms is ~40 Mbit/s); null = gRPC's auto-tuned window (grows to megabytes per edge)")
    admission_budget_bytes: int = Field(256 * MIB, ge=MIB, description="bytes of frames the ingest may hold (packets being handled, decoded images awaiting the model); past it alert frames are kept at reduced resolution")
    admission_context_share: float = Field(0.5, gt=0, le=1, description="context frames are admitted only while the held bytes are below this share of admission_budget_bytes; above, they are acked as shed (alerts are always admitted)")


class AuthConfig(_Strict):
    # edge_id -> token digest ("sha256:<hex>", from `vigil-cloud --new-token EDGE`) or, for the demo, the token itself.
    tokens: dict[str, str] = Field(default_factory=lambda: {DEMO_EDGE_ID: DEMO_TOKEN},
                                   description="edge_id -> sha256:<hex> token digest (or the token itself; demo only)")
    token_file: Path | None = Field(None, description="lines '<edge_id> sha256:<hex>'; re-read when it changes (delete a line to revoke an edge)")
    reload_interval_s: float = Field(1.0, gt=0, description="how often token_file is checked for changes")

    @field_validator("tokens")
    @classmethod
    def _non_empty(cls, v: dict[str, str]) -> dict[str, str]:
        for edge, tok in v.items():
            if not tok:
                raise ValueError(f"empty token for edge {edge!r}")
        return v


class _Filtered(_Strict):
    cameras: list[str] = Field(default_factory=list, description="only alerts of these camera ids (empty: all)")
    labels: list[str] = Field(default_factory=list, description="only alerts with one of these labels (empty: all)")
    min_severity: float = Field(0.0, ge=0, description="only alerts at least this severe")


class WebhookConfig(_Filtered):
    url: HttpUrl = Field(description="where alert stages are POSTed")
    secret: str = Field(min_length=8, description="HMAC-SHA256 key shared with the receiver (a Standard Webhooks whsec_ secret works too)")
    timeout_s: float = Field(5.0, gt=0, description="HTTP timeout of one delivery attempt")
    name: str | None = Field(None, min_length=1, description="stable name keying this endpoint's deliveries in the outbox (default: from the URL)")


class MqttConfig(_Filtered):
    host: str = Field(min_length=1, description="MQTT broker host")
    port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    topic_prefix: str = Field("vigil", min_length=1, description="topics <prefix>/events, <prefix>/tracked_object_update, <prefix>/<camera>/alert, <prefix>/available (Frigate's meaning: docs/events.md)")
    username: str | None = Field(None, description="broker user name")
    password: str | None = Field(None, description="broker password (masked in logs)")
    client_id: str | None = Field(None, description="MQTT client id (default: chosen by the client library)")
    qos: int = Field(1, ge=0, le=2, description="MQTT quality of service of alert messages")
    timeout_s: float = Field(5.0, gt=0, description="wait this long for the broker's acknowledgement")
    name: str | None = Field(None, min_length=1, description="stable name keying this broker's deliveries in the outbox (default: from host and prefix)")


class RedescribeConfig(_Strict):
    on_escalation: bool = Field(True, description="describe an event again when the edge reports an escalation (zone entry, dwell, a more severe rule, a count change): stage `redescribed`, reason escalation")
    on_end: bool = Field(True, description="describe an event again at its end from its best snapshot when that adds information (other labels or counts, or a materially better view): stage `redescribed`, reason end")
    min_quality_gain: float = Field(1.25, ge=1.0, description="at the end, the best snapshot's view (detector score x sqrt(box area fraction)) must be this many times the described frame's to count as better")


class AlertsConfig(_Strict):
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="signed webhook receivers of every alert stage, each with its own filters")
    mqtt: list[MqttConfig] = Field(default_factory=list, description="MQTT brokers every alert stage is published to (Frigate-style topics)")
    describe_deadline_s: float = Field(30.0, gt=0, description="send `described` with status timeout after this")
    describe_queue_size: int = Field(32, ge=1, description="events waiting for the model; past it the least important is shed (its alert: timeout, reason overloaded) and the edges are told")
    describe_concurrency: int = Field(4, ge=1, description="descriptions the model computes at once (batched); the rest wait in the describe queue, ordered by severity then deadline")
    redescribe: RedescribeConfig = Field(default_factory=RedescribeConfig, description="a second description of an already described event (after every first description in the queue; shed first; a shed one is only counted)")
    outbox_path: Path | None = Field(Path("var/outbox.db"), description="SQLite (WAL) outbox every alert stage is committed to before the edge is acked; null = in memory, nothing survives a restart")
    outbox_synchronous: Literal["normal", "full"] = Field("normal", description="normal: commits survive a process crash; full: also a power cut (an fsync per commit)")
    backoff_initial_s: float = Field(0.5, gt=0, description="first retry delay of a failed delivery (doubles, jittered)")
    backoff_max_s: float = Field(30.0, gt=0, description="longest delay between delivery retries")
    give_up_after_s: float = Field(86400.0, gt=0, description="a stage still failing this long after it was committed (or replayed) becomes a dead letter (kept; `vigil-cloud --dead-letters replay`, which starts a new budget)")
    max_in_flight: int = Field(32, ge=1, description="concurrent deliveries per endpoint (different alerts; stages of one alert go in order)")
    breaker_failures: int = Field(5, ge=1, description="consecutive failures that open an endpoint's circuit breaker")
    breaker_open_initial_s: float = Field(1.0, gt=0, description="first cool-down of an open breaker (doubles per re-opening, jittered)")
    breaker_open_max_s: float = Field(30.0, gt=0, description="longest breaker cool-down")
    drain_timeout_s: float = Field(10.0, ge=0, description="on SIGTERM, wait at most this long for descriptions and deliveries; the rest stays in the outbox")
    retain_delivered_s: float = Field(7 * 86400.0, gt=0, description="delivered stages are kept this long (a replayed packet must not re-alert)")
    min_free_bytes: int = Field(64 * 1024 * 1024, ge=0, description="headroom for the outbox's and event store's write-ahead logs: with less free on their disk, packets are refused (the edges keep them) until there is more")


# Scale-out settings: one process (the default) or gateways and workers around Redis Streams.
ScaleMode = Literal["single", "redis"]


class ScaleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: ScaleMode = Field("single", description="single: one process ingests, describes and delivers; redis: vigil-cloud --role gateway|worker|delivery processes share a Redis")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis (7.0 or later, appendonly yes, maxmemory-policy noeviction) the roles share in redis mode")
    prefix: str = Field("vigil", min_length=1, description="prefix of every Redis key and stream of this deployment")
    max_backlog: int = Field(10_000, ge=1, description="jobs queued or in work above which gateways refuse new event packets with OVERLOADED (not acknowledged, never dropped: the edge holds them and sends them again after a backoff)")
    dedup_ttl_s: float = Field(86_400.0, gt=0, description="how long gateways remember an (edge, camera, run, sequence) packet key, shared across gateways")
    claim_idle_s: float = Field(15.0, gt=0, description="a job its worker has not touched (no heartbeat) for this long is claimed by another worker (XAUTOCLAIM)")
    max_deliveries: int = Field(5, ge=1, description="a job handed to workers this many times without finishing is moved to the <prefix>:jobs:dead stream instead of crashing more workers")
    worker_concurrency: int = Field(8, ge=1, description="jobs one worker handles at once (descriptions batch in its engine)")
    read_batch: int = Field(16, ge=1, description="stream entries read per XREADGROUP call")
    consumer: str | None = Field(None, min_length=1, description="this process's consumer name in its group (default: worker-<host>-<pid>; the delivery role uses 'delivery' so a restart resumes its pending entries)")


class CloudConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)
    log_level: str = Field("INFO", description="Python logging level (DEBUG, INFO, WARNING, ...)")
    log_format: LogFormat = Field("text", description="text for people, json for log shippers")
    demo: bool = Field(False, description="allow the published demo token and webhook secret (vigil-cloud refuses them otherwise)")

    def demo_secret_keys(self) -> list[str]:
        """Keys holding a published demo credential (vigil-cloud refuses these unless `demo`)."""
        named = {f"auth.tokens.{edge}": tok for edge, tok in self.auth.tokens.items()}
        named.update({f"alerts.webhooks[{i}].secret": w.secret for i, w in enumerate(self.alerts.webhooks)})
        named.update({f"api.tokens[{i}]": t for i, t in enumerate(self.api.tokens)} if self.api.enabled else {})
        return demo_secret_keys(named)


def load_cloud_config(path: str | Path | None = None, environ=None, overrides: dict | None = None) -> CloudConfig:
    return load_config(CloudConfig, path, env_prefix=ENV_PREFIX, environ=environ, overrides=overrides)
