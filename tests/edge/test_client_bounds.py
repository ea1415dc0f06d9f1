"""The client's per-process bookkeeping stays bounded however long it runs."""
import asyncio

import grpc

from edge.client import MAX_KEPT_REPLIES, MAX_TRACKED_EVENTS, EdgeClient
from edge.link_config import CloudLinkConfig
from edge.transmit.fifo import FifoPolicy
from vigil.v1 import vigil_pb2 as pb


class Replies:
    """A stream call that answers with `messages`, then EOF."""

    def __init__(self, messages):
        self._messages = iter(messages)

    async def read(self):
        return next(self._messages, grpc.aio.EOF)


def test_results_errors_and_described_events_are_capped():
    n = MAX_TRACKED_EVENTS + 10
    replies = [pb.CloudMessage(result=pb.Result(event_id=f"ev{i}", camera_id="c")) for i in range(n)]
    replies += [pb.CloudMessage(error=pb.PacketError(camera_id="c", sequence=i, code="INVALID"))
                for i in range(MAX_KEPT_REPLIES + 10)]
    client = EdgeClient(CloudLinkConfig(), FifoPolicy(), cameras=[])
    asyncio.run(client._read_loop(Replies(replies)))
    assert client.stats["results"] == n                      # everything is counted ...
    assert len(client._described) == MAX_TRACKED_EVENTS      # ... but only the newest are remembered
    assert f"ev{n - 1}" in client._described and "ev0" not in client._described
    assert len(client.results) == MAX_KEPT_REPLIES and len(client.errors) == MAX_KEPT_REPLIES
