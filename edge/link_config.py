"""How the edge reaches the cloud."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vigil.demo_secrets import DEMO_TOKEN

MIB = 1024 * 1024


class LinkTlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ca_file: Path | None = Field(None, description="PEM CA that signed the cloud's certificate (default: the system's roots)")
    cert_file: Path | None = Field(None, description="mutual TLS: this edge's certificate (PEM)")
    key_file: Path | None = Field(None, description="mutual TLS: its private key (PEM)")
    server_name: str | None = Field(None, description="name to verify in the cloud's certificate when it differs from the target host")


class CloudLinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = Field("localhost:50051", description="cloud gRPC host:port")
    edge_id: str = Field("demo-edge", min_length=1, description="this edge's id, known to the cloud's auth.tokens")
    token: str = Field(DEMO_TOKEN, min_length=1, description="shared auth token for this edge")
    max_packet_bytes: int = Field(4 * MIB, ge=1024, description="must not exceed the cloud's server.max_packet_bytes")
    reconnect_initial_s: float = Field(0.5, gt=0, description="delay before the first reconnect to the cloud")
    reconnect_max_s: float = Field(10.0, gt=0, description="longest delay between reconnects to the cloud")
    refused_retry_initial_s: float = Field(0.5, gt=0, description="a packet the cloud refused without keeping it "
                                                                  "(OVERLOADED, INTERNAL) is sent again after this "
                                                                  "long, doubling per refusal of the same packet")
    refused_retry_max_s: float = Field(10.0, gt=0, description="longest wait before sending a refused packet again")
    tls: LinkTlsConfig | None = Field(None, description="TLS to the cloud (required unless the target is loopback or plaintext is set)")
    plaintext: bool = Field(False, description="connect without TLS to a non-loopback target (token readable on the network; logged as a WARNING)")
    results_grace_s: float = Field(30.0, ge=0, description="at end of a finite clip, wait this long for descriptions")
