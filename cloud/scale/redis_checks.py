"""What every role checks about its Redis at start: reachable, and set up not to lose accepted work."""
from __future__ import annotations

import logging

import redis
from redis import asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from vigil.redact import redact

log = logging.getLogger("vigil.scale")

MIN_REDIS = (7, 0)   # XAUTOCLAIM's reply lists deleted entries from 7.0 on
# A Redis that stops answering must not hang a role forever: calls fail after this (and are retried); it is
# well above the longest blocking read (1 s) the roles issue.
SOCKET_TIMEOUT_S = 10.0


def connect_async(url: str) -> aioredis.Redis:
    return aioredis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S)


def connect_sync(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S)


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached or is too old (one line for the operator)."""


async def check_redis(client, url: str) -> None:
    """Raise RedisUnavailable when ``url`` does not answer; warn where its settings can lose work."""
    try:
        info = await client.info("server")
    except (RedisError, OSError) as exc:
        raise RedisUnavailable(f"scale.redis_url {redact(url)}: {exc}") from None
    version = tuple(int(x) for x in str(info.get("redis_version", "0.0")).split(".")[:2])
    if version < MIN_REDIS:
        raise RedisUnavailable(f"Redis {info.get('redis_version')} at {redact(url)}: 7.0 or later is required")
    try:
        conf = {**await client.config_get("appendonly"), **await client.config_get("maxmemory-policy")}
    except ResponseError:   # CONFIG disabled (managed Redis): the operator vouches for the settings
        return
    get = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
           for k, v in conf.items()}
    if get.get("appendonly") != "yes":
        log.warning("Redis at %s runs without appendonly: queued jobs and committed alert stages do not survive "
                    "a Redis restart (set appendonly yes)", redact(url))
    if get.get("maxmemory-policy", "noeviction") != "noeviction":
        log.warning("Redis at %s evicts keys (maxmemory-policy %s): accepted jobs and de-duplication keys can "
                    "vanish silently (set maxmemory-policy noeviction)", redact(url), get["maxmemory-policy"])
