"""EdgeClient's stall watchdog: a cloud that stops acknowledging (a dead link that TCP has not
noticed yet) ends the session; the policy is told (it requeues/spools) and the client reconnects."""
import asyncio

import grpc

from edge.client import EdgeClient
from edge.link_config import CloudLinkConfig
from edge.transmit.base import TransmissionPolicy
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc


class SilentCloud(pb_grpc.IngestServicer):
    """Welcomes the edge, then swallows every packet without an Ack."""

    def __init__(self):
        self.sessions = 0

    async def Stream(self, request_iterator, context):
        await anext(request_iterator.__aiter__())
        self.sessions += 1
        yield pb.CloudMessage(welcome=pb.Welcome(session_id=str(self.sessions)))
        async for _ in request_iterator:
            pass


class OnePacket(TransmissionPolicy):
    def __init__(self):
        super().__init__()
        self.queue = [pb.FramePacket(camera_id="c", sequence=1, priority=pb.ALERT_METADATA)]
        self.inflight = []
        self.disconnects = 0

    def offer(self, item, now):
        pass

    def next_packet(self, now):
        if self.queue:
            self.inflight.append(self.queue.pop())
            return self.inflight[-1]
        return None

    def on_disconnect(self, now):
        self.disconnects += 1
        self.queue, self.inflight = self.inflight + self.queue, []

    def pending(self):
        return len(self.queue)

    def unacked(self):
        return len(self.inflight)


async def _run():
    cloud = SilentCloud()
    server = grpc.aio.server()
    pb_grpc.add_IngestServicer_to_server(cloud, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    policy = OnePacket()
    link = CloudLinkConfig(target=f"127.0.0.1:{port}", reconnect_initial_s=0.1, reconnect_max_s=0.2)
    client = EdgeClient(link, policy, [], stall_timeout_s=0.6)
    task = asyncio.ensure_future(client.run(lambda: False))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if cloud.sessions >= 2:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop(0)
    return cloud.sessions, client.stats, policy


def test_no_ack_while_packets_outstanding_ends_the_session_and_reconnects():
    sessions, stats, policy = asyncio.run(_run())
    assert stats["stalls"] >= 1 and policy.disconnects >= 1
    assert sessions >= 2, "the client did not reconnect after the stall"
