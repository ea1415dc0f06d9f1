"""Scale-out mode with real processes: redis-server, a gateway, two workers, the delivery process and a
webhook receiver. A worker is SIGKILLed mid-stream: its jobs are claimed by the survivor and every
alert stage reaches the receiver exactly once; replayed packets make no second alert. Redis itself, and
the delivery process (with the receiver down), are SIGKILLed and restarted: nothing acknowledged is lost,
nothing is sent twice.
"""
import re
import socket
import threading
import time

import pytest
import redis

from testkit.fault_procs import SECRET, free_port, receipts, run_edge, wait_for
from testkit.scale_procs import Cluster, event_packets, send_events
from testkit.stages import complete as stages_complete
from tests.helpers.redis_server import needs_redis
from vigil.v1 import vigil_pb2 as pb
from vigil_tools.webhook_echo import WebhookReceiver

pytestmark = [needs_redis, pytest.mark.slow]
EVENTS = 40
PACE_S = 0.02            # between packets: the stream lasts ~1.6 s, so the kill lands mid-stream
LATENCY_S = 0.3          # per description: a worker always has jobs in flight when it is killed
CLAIM_IDLE_S = 1.5


def _complete(rx, n: int) -> bool:
    per_alert, _ = receipts(rx)
    return len(per_alert) == n and all(stages_complete(stages) for stages in per_alert.values())


def test_kill_a_worker_mid_stream_every_alert_arrives_exactly_once(tmp_path):
    rx = WebhookReceiver(SECRET, port=free_port(), quiet=True).start()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx.port}/alerts", workers=2, latency_s=LATENCY_S, concurrency=4,
                      scale={"claim_idle_s": CLAIM_IDLE_S}).start()
    try:
        packets = event_packets(EVENTS, events="a")
        sent: dict = {}
        sender = threading.Thread(target=lambda: sent.update(send_events(cluster.port, packets, PACE_S)))
        sender.start()
        victim = cluster.procs["worker0"]
        consumer = f"worker-{socket.gethostname()}-{victim.proc.pid}"
        r = redis.Redis.from_url(cluster.redis.url)
        in_flight = lambda: len(r.xpending_range("vigil:jobs", "workers", "-", "+", 100, consumername=consumer))  # noqa: E731
        assert wait_for(lambda: in_flight() >= 2, 30), cluster.logs()
        victim.kill()                                         # kill -9 with jobs in flight
        assert in_flight() >= 1                               # ... left pending for the survivor
        sender.join(60)
        assert sent["acked"] == len(packets) and not sent["errors"], sent
        assert wait_for(lambda: _complete(rx, EVENTS), 40), (receipts(rx), cluster.logs())
        assert "claimed job" in cluster.procs["worker1"].log(), cluster.logs()

        # The same packets again (an edge replaying its spool), then the same events under a new edge
        # run (their de-duplication keys are new): no stage is committed or sent a second time.
        again = send_events(cluster.port, packets)
        assert again["duplicates"] == len(packets), again
        later_run = send_events(cluster.port, event_packets(EVENTS, events="a"))
        assert later_run["acked"] == len(packets) and later_run["duplicates"] == 0, later_run
        time.sleep(2 * LATENCY_S + 1.0)
    finally:
        cluster.stop()
        rx.stop()
    per_alert, repeats = receipts(rx)
    assert len(per_alert) == EVENTS
    assert all(stages == ["detected", "described"] for stages in per_alert.values())
    assert repeats == 0 and len(rx.received) == 2 * EVENTS          # exactly once, by webhook-id
    statuses = [r.body["description_status"] for r in rx.received if r.body["stage"] == "described"]
    assert statuses == ["ok"] * EVENTS                              # the survivor described the victim's jobs


def test_sigkill_redis_with_jobs_queued_loses_nothing(tmp_path):
    rx = WebhookReceiver(SECRET, port=free_port(), quiet=True).start()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx.port}/alerts", workers=2, latency_s=LATENCY_S, concurrency=4,
                      scale={"claim_idle_s": CLAIM_IDLE_S}).start()
    try:
        sent = send_events(cluster.port, event_packets(EVENTS))
        assert sent["acked"] == 2 * EVENTS and not sent["errors"], sent
        cluster.redis.kill()                  # acknowledged jobs, half-done work and committed stages in flight
        time.sleep(1.0)
        cluster.redis.start()                 # same port and directory: the append-only file is reloaded
        assert wait_for(lambda: _complete(rx, EVENTS), 45), (receipts(rx), cluster.logs())
        time.sleep(1.0)
    finally:
        cluster.stop()
        rx.stop()
    per_alert, repeats = receipts(rx)
    assert len(per_alert) == EVENTS and repeats == 0 and len(rx.received) == 2 * EVENTS


def test_sigkill_delivery_with_receiver_down_restart_sends_each_stage_once(tmp_path):
    rx_port = free_port()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx_port}/alerts", workers=2, latency_s=0.05,
                      scale={"claim_idle_s": CLAIM_IDLE_S}).start()
    rx = None
    try:
        delivery = cluster.procs["delivery"]
        sent = send_events(cluster.port, event_packets(EVENTS))
        assert sent["acked"] == 2 * EVENTS, sent
        assert wait_for(lambda: delivery.log().count("committed to the outbox") >= EVENTS, 30), cluster.logs()
        delivery.kill()                       # mid-stream: some stages in its outbox, some still in Redis
        delivery.start()                      # waits out the dead process's lease, then resumes its pending entries
        rx = WebhookReceiver(SECRET, port=rx_port, quiet=True).start()
        assert wait_for(lambda: _complete(rx, EVENTS), 45), (receipts(rx), cluster.logs())
        time.sleep(1.0)
    finally:
        cluster.stop()
        if rx:
            rx.stop()
    per_alert, repeats = receipts(rx)
    assert len(per_alert) == EVENTS and repeats == 0 and len(rx.received) == 2 * EVENTS


def test_results_and_evidence_requests_reach_the_edge_through_its_gateway(tmp_path):
    rx = WebhookReceiver(SECRET, port=free_port(), quiet=True).start()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx.port}/alerts", workers=2, latency_s=0.05).start()
    try:
        packets = event_packets(4, events="e")
        # Event 0 also sends its full-quality evidence: it is not asked for it.
        evidence = event_packets(1, events="e", run_id="ev")[1]
        evidence.priority, evidence.sequence = pb.EVIDENCE, 99
        got = send_events(cluster.port, [evidence, *packets], results=4, evidence_requests=3)
    finally:
        cluster.stop()
        rx.stop()
    assert sorted(got["results"]) == [(f"ev-e-{i}", "ok") for i in range(4)]
    assert sorted(got["evidence_requested"]) == ["ev-e-1", "ev-e-2", "ev-e-3"]


def test_the_real_edge_agent_runs_against_the_scaled_cloud(tmp_path):
    rx = WebhookReceiver(SECRET, port=free_port(), quiet=True).start()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx.port}/alerts", workers=2).start()
    try:
        done = run_edge(cluster.port, tmp_path, tmp_path / "spool")
        assert done.returncode == 0, done.stderr[-3000:]
        summary = done.stdout.strip().splitlines()[-1]
        events = int(re.search(r"events (\d+)", summary).group(1))
        # One Result per event: an event's end frame (its best snapshot) that reaches another worker than the
        # one describing it is not described again (the ledger's describe lease, cloud/scale/ledger.py).
        assert events > 0 and f"descriptions received {events}" in summary, summary
        assert wait_for(lambda: _complete(rx, events), 30), (receipts(rx), cluster.logs())
    finally:
        cluster.stop()
        rx.stop()
    per_alert, repeats = receipts(rx)
    assert len(per_alert) == events and repeats == 0


def test_the_delivery_role_serves_the_operator_api_over_its_alerts(tmp_path):
    import httpx
    from vigil.demo_secrets import DEMO_OPERATOR_TOKEN
    rx = WebhookReceiver(SECRET, port=free_port(), quiet=True).start()
    api_port = free_port()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx.port}/alerts", workers=1, api_port=api_port).start()
    try:
        send_events(cluster.port, event_packets(3, events="api"))
        assert wait_for(lambda: _complete(rx, 3), 30), cluster.logs()
        headers = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"}
        events = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/events", headers=headers, timeout=10).json()
        denied = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/events", timeout=10).status_code
        metrics = httpx.get(f"http://127.0.0.1:{api_port}/metrics", headers=headers, timeout=10).text
    finally:
        cluster.stop()
        rx.stop()
    assert denied == 401
    assert "vigil_scale_jobs_backlog 0.0" in metrics and "vigil_cloud_outbox_pending 0.0" in metrics
    assert 'vigil_cloud_deliveries_total{stage="described"} 3.0' in metrics, metrics
    assert sorted(e["event_id"] for e in events["events"]) == ["ev-api-0", "ev-api-1", "ev-api-2"]
    assert all(e["stage"] == "described" and e["status"] == "ok" for e in events["events"])


def test_two_gateways_share_deduplication_and_route_results_to_the_edges_gateway(tmp_path):
    rx = WebhookReceiver(SECRET, port=free_port(), quiet=True).start()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx.port}/alerts", workers=2, gateways=2).start()
    try:
        packets = event_packets(6, events="gw")
        first = send_events(cluster.ports[0], packets, results=6)
        assert first["acked"] == len(packets) and first["duplicates"] == 0, first
        assert len(first["results"]) == 6                                   # through the gateway it used
        # The edge reconnects to the other gateway and replays its spool there.
        replay = send_events(cluster.ports[1], packets)
        assert replay["duplicates"] == len(packets), replay
        assert wait_for(lambda: _complete(rx, 6), 30), (receipts(rx), cluster.logs())
        time.sleep(1.0)
    finally:
        cluster.stop()
        rx.stop()
    per_alert, repeats = receipts(rx)
    assert len(per_alert) == 6 and repeats == 0 and len(rx.received) == 12


def test_an_end_with_a_better_view_is_described_again_once(tmp_path):
    """The end's best snapshot (a much bigger box) reaches whichever worker: one `redescribed` stage, after
    `described`, judged against the frame the first description was made from (kept in the ledger)."""
    rx = WebhookReceiver(SECRET, port=free_port(), quiet=True).start()
    cluster = Cluster(tmp_path, f"http://127.0.0.1:{rx.port}/alerts", workers=2, latency_s=0.05).start()
    try:
        packets = event_packets(1, events="again", run_id="again")
        first = send_events(cluster.port, packets, results=1)
        assert first["results"] == [("ev-again-0", "ok")], first
        end = pb.FramePacket()
        end.CopyFrom(packets[1])
        end.sequence, end.hints.event_stage = 3, "end"
        end.detections[0].box.CopyFrom(pb.Box(x1=0, y1=0, x2=64, y2=64))
        sent, again_sent = send_events(cluster.port, [end]), send_events(cluster.port, [end])   # a replay
        assert sent["duplicates"] == 0 and again_sent["duplicates"] == 1, (sent, again_sent)
        again = lambda: sum(s == "redescribed" for stages in receipts(rx)[0].values() for s in stages)  # noqa: E731
        assert wait_for(lambda: again() == 1 and _complete(rx, 1), 20), (receipts(rx), cluster.logs())
        time.sleep(0.5)
    finally:
        cluster.stop()
        rx.stop()
    per_alert, repeats = receipts(rx)
    assert list(per_alert.values()) == [["detected", "described", "ended", "redescribed"]] and repeats == 0
