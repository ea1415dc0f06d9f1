"""The edge says, once and plainly, when the cloud is unreachable, keeps retrying, and counts shed frames."""
import asyncio
import logging
import socket

import grpc

from edge.client import EdgeClient
from edge.link_config import CloudLinkConfig
from edge.link_report import AdmissionReporter, LinkReporter, failure_cause
from edge.transmit.fifo import FifoPolicy
from vigil.v1 import vigil_pb2 as pb

# Details gRPC 1.85 gave for each failure on this machine.
DNS = ("errors resolving no-such-host.invalid:50051: [field:hostname lookup error:address lookup failed for "
       "no-such-host.invalid:50051: Domain name not found]")
REFUSED = ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote "
           "host: Connection refused")
TLS = ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:18765: Tls handshake failed "
       "(TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER")


def test_causes_are_named():
    assert failure_cause(DNS).startswith("DNS lookup failed")
    assert failure_cause(REFUSED).startswith("connection refused")
    assert failure_cause(TLS).startswith("TLS handshake failed")
    assert failure_cause("link stalled: no Welcome within 5s").startswith("no answer")
    assert failure_cause("something new") == "something new"


def test_one_warning_at_start_then_reminders_and_changes_only():
    r = LinkReporter("cloud:50051", reminder_s=60)
    first = r.on_failure(REFUSED, now=0.0, retry_in_s=0.5)
    assert first.startswith("cloud cloud:50051 unreachable: connection refused") and "retrying" in first
    assert [r.on_failure(REFUSED, now=t, retry_in_s=1) for t in (1, 5, 30)] == [None, None, None]
    assert r.on_failure(TLS, now=31, retry_in_s=1).endswith(failure_cause(TLS))           # the cause changed
    reminder = r.on_failure(TLS, now=95, retry_in_s=1)
    assert reminder.startswith("cloud cloud:50051 still unreachable after 6 attempts over 95s")
    assert r.on_connected(100).startswith("cloud cloud:50051 reachable again after 6 failed attempts")
    assert r.on_failure(REFUSED, now=200, retry_in_s=1).startswith("cloud link cloud:50051 down")  # not "at start"
    assert r.on_connected(201) is not None and r.on_connected(300) is None


def test_admission_statuses_are_summarised_once_per_interval():
    a = AdmissionReporter(reminder_s=60)
    first = a.on_ack("shed", 0.0)
    assert "1 frames shed" in first and "not resent" in first
    assert [a.on_ack("shed", t) for t in (1, 2)] == [None, None]
    assert a.on_ack("degraded", 3) is None
    later = a.on_ack("shed", 61)
    assert "1 frames degraded, 3 frames shed in the last 61s" in later


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]       # closed again when we return: nothing listens there


def test_an_unreachable_cloud_gets_one_clear_warning_and_retries_with_backoff(caplog):
    cfg = CloudLinkConfig(target=f"127.0.0.1:{_closed_port()}", reconnect_initial_s=0.05, reconnect_max_s=0.2)
    client = EdgeClient(cfg, FifoPolicy(), cameras=[])

    async def go():
        try:
            await asyncio.wait_for(client.run(lambda: True), 2.0)
        except asyncio.TimeoutError:
            pass
    with caplog.at_level(logging.DEBUG, logger="vigil.edge.client"):
        asyncio.run(go())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"cloud {cfg.target} unreachable: connection refused" in warnings[0]
    assert client.stats["reconnects"] >= 4                       # still retrying, with backoff
    assert client.link_report.failures == client.stats["reconnects"]


class Replies:
    def __init__(self, messages):
        self._messages = iter(messages)

    async def read(self):
        return next(self._messages, grpc.aio.EOF)


def test_a_shed_frame_is_acknowledged_counted_and_not_resent(caplog):
    policy = FifoPolicy()
    client = EdgeClient(CloudLinkConfig(), policy, cameras=[])
    pkts = [pb.FramePacket(camera_id="c", run_id=policy.run_id, sequence=i, priority=pb.CONTEXT) for i in (1, 2)]
    for p in pkts:
        policy._inflight[(p.camera_id, p.run_id, p.sequence)] = object()
    acks = [pb.CloudMessage(ack=pb.Ack(camera_id="c", run_id=policy.run_id, sequence=p.sequence, admission="shed"))
            for p in pkts]
    with caplog.at_level(logging.WARNING, logger="vigil.edge.client"):
        asyncio.run(client._read_loop(Replies(acks)))
    assert policy.unacked() == 0                                  # nothing left to resend after a reconnect
    policy.on_disconnect(0.0)
    assert policy.pending() == 0
    assert client.stats["frames_shed"] == 2
    assert sum("over its ingest memory budget" in r.getMessage() for r in caplog.records) == 1
