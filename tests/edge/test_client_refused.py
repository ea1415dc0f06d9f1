"""A cloud that refuses packets without keeping them (OVERLOADED: a scaled-out cloud's full job
queue) gets them again on the same session, after a short backoff, with their keys unchanged;
before, they waited for the stall watchdog to end the session."""
import asyncio

import numpy as np

from edge.client import EdgeClient
from edge.link_config import CloudLinkConfig
from edge.transmit.base import OutgoingItem
from edge.transmit.fifo import FifoPolicy
from tests.helpers.cloud_fakes import serve_ingest
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

REFUSALS = 2          # each packet is refused this many times before it is acknowledged


class BusyCloud(pb_grpc.IngestServicer):
    def __init__(self):
        self.sessions = 0
        self.seen: dict[tuple, int] = {}

    async def Stream(self, request_iterator, context):
        await anext(request_iterator.__aiter__())
        self.sessions += 1
        yield pb.CloudMessage(welcome=pb.Welcome(session_id=str(self.sessions)))
        async for msg in request_iterator:
            if msg.WhichOneof("body") != "frame":
                continue
            f = msg.frame
            key = (f.camera_id, f.run_id, f.sequence)
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.seen[key] <= REFUSALS:
                yield pb.CloudMessage(error=pb.PacketError(camera_id=f.camera_id, run_id=f.run_id,
                                                           sequence=f.sequence, code="OVERLOADED",
                                                           message="the cloud's job queue is full"))
            else:
                yield pb.CloudMessage(ack=pb.Ack(camera_id=f.camera_id, run_id=f.run_id, sequence=f.sequence))


async def _run(n_items: int):
    cloud = BusyCloud()
    server, port = await serve_ingest(cloud)
    policy = FifoPolicy()
    for i in range(n_items):
        img = np.full((48, 64, 3), 40 * i, dtype=np.uint8)
        policy.offer(OutgoingItem(camera_id="c", event_id="", priority=pb.CONTEXT, image=img,
                                  capture_time=float(i), event_onset=float(i)), 0.0)
    link = CloudLinkConfig(target=f"127.0.0.1:{port}", results_grace_s=0.0,
                           refused_retry_initial_s=0.05, refused_retry_max_s=0.1)
    client = EdgeClient(link, policy, [], stall_timeout_s=30.0)
    try:
        await asyncio.wait_for(client.run(lambda: True), timeout=20)
    finally:
        await server.stop(0)
    return cloud, client, policy


def test_refused_packets_go_again_on_the_same_session_until_acknowledged():
    cloud, client, policy = asyncio.run(_run(3))
    assert cloud.sessions == 1 and client.stats["stalls"] == 0          # no reconnect needed
    assert len(cloud.seen) == 3 and all(n == REFUSALS + 1 for n in cloud.seen.values())   # same keys
    assert client.stats["packets_refused"] == 3 * REFUSALS
    assert policy.pending() == 0 and policy.unacked() == 0
