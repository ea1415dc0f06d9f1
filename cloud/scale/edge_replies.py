"""Messages from workers back to an edge (its ``Result`` and evidence requests), through the gateway
that holds the edge's stream.

The worker that describes an event holds no stream to the edge, so it publishes the CloudMessage on
the Redis Pub/Sub channel ``<prefix>:edge:<edge id>``; every gateway listens to ``<prefix>:edge:*``
and forwards a message to the sessions of that edge it holds (none, when the edge is connected
elsewhere). Pub/Sub is fire-and-forget, which matches what these messages are in the single
process: a Result for an edge that is not connected is lost there too, and neither a Result nor an
evidence request carries anything the alert depends on.

Evidence: a gateway marks an event as having sent full-quality evidence (``<prefix>:evidence:...``,
kept ``EVIDENCE_MEMORY_S``); ``evidence_request_after_s`` after describing, a worker asks the edge for
evidence of an event that has sent none, as cloud/ingest/service.py does.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Callable

from redis.exceptions import RedisError

from vigil.v1 import vigil_pb2 as pb

log = logging.getLogger("vigil.scale")

EVIDENCE_MEMORY_S = 3600      # events remembered as having sent evidence (far longer than an event lasts)
RESUBSCRIBE_PAUSE_S = 1.0     # after losing Redis, wait before subscribing again


def channel(prefix: str, edge_id: str) -> str:
    return f"{prefix}:edge:{edge_id}"


def evidence_key(prefix: str, edge_id: str, camera_id: str, event_id: str) -> str:
    return f"{prefix}:evidence:" + json.dumps([edge_id, camera_id, event_id], separators=(",", ":"))


async def publish(client, prefix: str, edge_id: str, msg: pb.CloudMessage) -> None:
    """Best effort: a lost reply is logged, never an error for the job."""
    try:
        await client.publish(channel(prefix, edge_id), msg.SerializeToString())
    except RedisError as exc:
        log.warning("reply to edge %s not published: %s", edge_id[:64], exc)


async def mark_evidence(client, prefix: str, edge_id: str, camera_id: str, event_id: str) -> None:
    try:
        await client.set(evidence_key(prefix, edge_id, camera_id, event_id), 1, ex=EVIDENCE_MEMORY_S)
    except RedisError as exc:
        log.warning("evidence of %s not recorded: %s", event_id[:64], exc)


async def request_evidence_later(client, prefix: str, edge_id: str, camera_id: str, event_id: str,
                                 after_s: float) -> bool:
    """After ``after_s``, ask the edge for evidence of an event that has sent none; True when asked."""
    await asyncio.sleep(after_s)
    try:
        if await client.exists(evidence_key(prefix, edge_id, camera_id, event_id)):
            return False
    except RedisError:
        return False
    await publish(client, prefix, edge_id, pb.CloudMessage(hint=pb.Hint(
        evidence_event_ids=[event_id], reason="evidence for a described alert")))
    return True


async def forward_replies(client, prefix: str, deliver: Callable[[str, pb.CloudMessage], int]) -> None:
    """Gateway side: forward every reply published for an edge to ``deliver(edge_id, msg)`` (which
    returns how many sessions took it), until cancelled; survives Redis restarts."""
    head = len(channel(prefix, ""))
    while True:
        pubsub = client.pubsub()
        try:
            await pubsub.psubscribe(channel(prefix, "*"))
            async for item in pubsub.listen():
                if item.get("type") != "pmessage":
                    continue
                name = item["channel"].decode() if isinstance(item["channel"], bytes) else item["channel"]
                msg = pb.CloudMessage()
                msg.ParseFromString(item["data"])
                deliver(name[head:], msg)
        except (RedisError, OSError) as exc:
            log.warning("edge replies: subscription lost (%s); subscribing again", exc)
            await asyncio.sleep(RESUBSCRIBE_PAUSE_S)
        finally:
            try:
                await pubsub.aclose()
            except (RedisError, OSError):
                pass
