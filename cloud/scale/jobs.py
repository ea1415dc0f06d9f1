"""The job stream between gateways and workers (Redis Streams, one consumer group).

A job is one accepted event packet: ``edge`` (who sent it), ``pkt`` (the serialized FramePacket,
its JPEG kept only where a worker will look at it) and ``t`` (when the gateway accepted it).

Gateways ``publish``: one Lua script checks the shared de-duplication key and XADDs, so two
gateways receiving the same replayed packet queue it once, and a packet whose XADD failed is not
remembered as seen. Workers ``read`` (XREADGROUP), ``beat`` (XCLAIM JUSTID to themselves: their
in-flight entries never look abandoned), ``finish`` (XACK + XDEL: the stream's length is the
backlog), ``claim`` (XAUTOCLAIM entries idle past the timeout) and ``bury`` (poison entries to
``<prefix>:jobs:dead``). See policy.py for the decisions and their source.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis import asyncio as aioredis
from redis.exceptions import ResponseError

from cloud.scale.policy import PendingEntry, packet_key
from vigil.v1 import vigil_pb2 as pb

log = logging.getLogger("vigil.scale")

GROUP = "workers"
MAX_PENDING_SCAN = 100   # pending entries looked at per claim round (the rest wait for the next round)

# KEYS: seen key, jobs stream; ARGV: seen ttl ms, edge id, packet bytes, accept time.
# Returns {entry id or "dup", stream length}.
_PUBLISH = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'dup', redis.call('XLEN', KEYS[2])} end
local id = redis.call('XADD', KEYS[2], '*', 'edge', ARGV[2], 'pkt', ARGV[3], 't', ARGV[4])
redis.call('SET', KEYS[1], id, 'PX', ARGV[1])
return {id, redis.call('XLEN', KEYS[2])}
"""


@dataclass
class Job:
    entry_id: str
    edge_id: str
    packet: pb.FramePacket
    accepted_at: float


def _decode(entry_id, fields: dict) -> Job:
    pkt = pb.FramePacket()
    pkt.ParseFromString(fields[b"pkt"])
    return Job(entry_id.decode() if isinstance(entry_id, bytes) else entry_id, fields[b"edge"].decode(), pkt,
               float(fields[b"t"]))


class JobStream:
    def __init__(self, client: aioredis.Redis, prefix: str):
        self.r = client
        self.prefix = prefix
        self.key = f"{prefix}:jobs"
        self.dead_key = f"{prefix}:jobs:dead"
        self._publish = client.register_script(_PUBLISH)

    # -- gateway -----------------------------------------------------------------------------
    async def publish(self, edge_id: str, pkt: pb.FramePacket, dedup_ttl_s: float) -> tuple[str | None, int]:
        """(entry id, backlog) for a new packet; (None, backlog) when its key was seen before."""
        seen = packet_key(self.prefix, edge_id, pkt.camera_id, pkt.run_id, pkt.sequence)
        entry, backlog = await self._publish(keys=[seen, self.key],
                                             args=[int(dedup_ttl_s * 1000), edge_id, pkt.SerializeToString(),
                                                   repr(time.time())])
        entry = entry.decode() if isinstance(entry, bytes) else entry
        return (None if entry == "dup" else entry), int(backlog)

    async def backlog(self) -> int:
        return int(await self.r.xlen(self.key))

    # -- worker ------------------------------------------------------------------------------
    async def ensure_group(self) -> None:
        try:
            await self.r.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Job]:
        reply = await self.r.xreadgroup(GROUP, consumer, {self.key: ">"}, count=count, block=block_ms)
        return [_decode(eid, fields) for _, entries in reply or [] for eid, fields in entries]

    async def finish(self, entry_id: str) -> None:
        async with self.r.pipeline(transaction=True) as p:
            p.xack(self.key, GROUP, entry_id)
            p.xdel(self.key, entry_id)
            await p.execute()

    async def beat(self, consumer: str, entry_ids: list[str]) -> None:
        if entry_ids:
            await self.r.xclaim(self.key, GROUP, consumer, min_idle_time=0, message_ids=entry_ids, justid=True)

    async def pending(self, min_idle_ms: int) -> list[PendingEntry]:
        rows = await self.r.xpending_range(self.key, GROUP, min="-", max="+", count=MAX_PENDING_SCAN,
                                           idle=min_idle_ms)
        return [PendingEntry(_s(r["message_id"]), _s(r["consumer"]), int(r["time_since_delivered"]),
                             int(r["times_delivered"])) for r in rows]

    async def claim(self, consumer: str, min_idle_ms: int, count: int) -> list[Job]:
        """XAUTOCLAIM entries idle past ``min_idle_ms``; entries deleted meanwhile are acknowledged."""
        reply = await self.r.xautoclaim(self.key, GROUP, consumer, min_idle_time=min_idle_ms, start_id="0-0",
                                        count=count)
        claimed = reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        if deleted:
            await self.r.xack(self.key, GROUP, *deleted)
        return [_decode(eid, fields) for eid, fields in claimed if fields]

    async def bury(self, consumer: str, entry_ids: list[str], min_idle_ms: int = 0) -> int:
        """Move poison entries to the dead stream (kept for an operator), out of the work queue. An entry
        another worker touched within ``min_idle_ms`` (it claimed it meanwhile) is left to that worker."""
        n = 0
        for eid in entry_ids:
            got = await self.r.xclaim(self.key, GROUP, consumer, min_idle_time=min_idle_ms, message_ids=[eid])
            if not got:
                continue
            async with self.r.pipeline(transaction=True) as p:
                for _, fields in got:
                    if fields:
                        p.xadd(self.dead_key, {**fields, b"entry": eid})
                        n += 1
                p.xack(self.key, GROUP, eid)
                p.xdel(self.key, eid)
                await p.execute()
        return n


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
