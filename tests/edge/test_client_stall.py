"""EdgeClient's stall watchdog: a cloud that stops acknowledging (a dead link that TCP has not
noticed yet) ends the session; the policy is told (it requeues/spools) and the client reconnects."""
import asyncio
import time

from edge.client import EdgeClient
from edge.link_config import CloudLinkConfig
from edge.transmit.base import TransmissionPolicy
from tests.helpers.cloud_fakes import serve_ingest
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
    server, port = await serve_ingest(cloud)
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


class SlowAckCloud(pb_grpc.IngestServicer):
    """Welcomes the edge, then acknowledges every packet after ``ack_delay_s`` (a long round trip)."""

    def __init__(self, ack_delay_s):
        self.ack_delay_s, self.sessions, self.packets = ack_delay_s, 0, 0

    async def Stream(self, request_iterator, context):
        await anext(request_iterator.__aiter__())
        self.sessions += 1
        yield pb.CloudMessage(welcome=pb.Welcome(session_id=str(self.sessions)))
        async for msg in request_iterator:
            self.packets += 1
            await asyncio.sleep(self.ack_delay_s)
            yield pb.CloudMessage(ack=pb.Ack(camera_id=msg.frame.camera_id, sequence=msg.frame.sequence))


class PacketAfterQuiet(OnePacket):
    """Nothing to send until ``ready_at`` (a camera with no event for a while), then one packet."""

    def __init__(self, ready_at):
        super().__init__()
        self.ready_at = ready_at

    def next_packet(self, now):
        return super().next_packet(now) if now >= self.ready_at else None

    def on_ack(self, ack, now):
        self.inflight = [p for p in self.inflight if p.sequence != ack.sequence]

    def wake_after(self, now):
        return max(0.0, self.ready_at - now) if self.queue else None


async def _run_quiet_then_send(stall_s, quiet_s, ack_delay_s):
    cloud = SlowAckCloud(ack_delay_s)
    server, port = await serve_ingest(cloud)
    policy = PacketAfterQuiet(time.time() + quiet_s)
    link = CloudLinkConfig(target=f"127.0.0.1:{port}", reconnect_initial_s=0.1, reconnect_max_s=0.2)
    client = EdgeClient(link, policy, [], stall_timeout_s=stall_s)
    task = asyncio.ensure_future(client.run(lambda: False))
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if cloud.packets and not policy.inflight:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop(0)
    return cloud, client.stats, policy


def test_first_packet_after_a_quiet_spell_gets_the_full_stall_timeout():
    # The link was idle (no packet, so no Ack) for longer than the stall timeout; the first packet
    # after that must get stall_timeout_s for its Ack, not be declared stalled at the next tick.
    cloud, stats, policy = asyncio.run(_run_quiet_then_send(stall_s=0.6, quiet_s=1.0, ack_delay_s=0.3))
    assert cloud.packets == 1 and not policy.inflight, "the packet was never acknowledged"
    assert stats["stalls"] == 0 and cloud.sessions == 1, "a quiet link was taken for a stalled one"
