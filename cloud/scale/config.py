"""Scale-out settings: one process (the default) or gateways and workers around Redis Streams."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
