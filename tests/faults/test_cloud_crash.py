"""Killing and restarting the cloud, taking the receiver down: every alert stage arrives, in order, none twice.

Real processes: `vigil-cloud` (stub engine, outbox on disk), `vigil-edge` on a real clip paced in
real time, and a real HTTP receiver that is down while the cloud is killed.
"""
import re
import time

import pytest

from testkit.fault_procs import SECRET, CloudProc, cloud_config, free_port, receipts, start_edge, wait_for
from vigil_tools.webhook_echo import WebhookReceiver

pytestmark = pytest.mark.slow
ALERT_LINE = re.compile(r"alert (\w+) detected")


def _complete(rx, alerts: set[str]) -> bool:
    per_alert, _ = receipts(rx)
    return set(per_alert) >= alerts and all(per_alert[a] == ["detected", "described"] for a in alerts)


def test_sigkill_mid_stream_with_receiver_down_loses_nothing(tmp_path):
    rx_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{rx_port}/alerts"
    cloud = CloudProc(tmp_path, port, cloud_config(port, url, tmp_path / "outbox.db")).start()
    edge = start_edge(port, tmp_path, tmp_path / "spool", tmp_path / "edge.log")
    rx = None
    try:
        assert wait_for(lambda: ALERT_LINE.search(cloud.log()), 60), cloud.log()[-3000:]
        time.sleep(1.0)
        cloud.kill()                           # receiver down: everything accepted so far is only in the outbox
        before = set(ALERT_LINE.findall(cloud.log()))
        time.sleep(1.0)                        # the edge spools meanwhile
        cloud.start()
        assert edge.wait(90) == 0, (tmp_path / "edge.log").read_text()[-3000:]
        time.sleep(1.0)
        rx = WebhookReceiver(SECRET, port=rx_port, quiet=True).start()   # the receiver comes back
        alerts = set(ALERT_LINE.findall(cloud.log()))
        assert before and alerts >= before
        assert wait_for(lambda: _complete(rx, alerts), 60), receipts(rx)
    finally:
        edge.kill()
        cloud.stop()
        if rx:
            rx.stop()
    per_alert, repeats = receipts(rx)
    assert set(per_alert) == alerts                           # nothing lost, nothing invented
    assert all(stages == ["detected", "described"] for stages in per_alert.values())
    assert repeats == 0                                       # none twice
    edge_summary = (tmp_path / "edge.log").read_text().strip().splitlines()[-1]
    events = int(re.search(r"events (\d+)", edge_summary).group(1))
    assert len(per_alert) == events, edge_summary


def test_sigterm_with_receiver_down_exits_in_bound_and_next_start_delivers(tmp_path):
    rx_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{rx_port}/alerts"
    cloud = CloudProc(tmp_path, port, cloud_config(port, url, tmp_path / "outbox.db", drain_timeout_s=2)).start()
    from testkit.fault_procs import run_edge
    done = run_edge(port, tmp_path, tmp_path / "spool")
    assert done.returncode == 0, done.stderr[-2000:]
    alerts = set(ALERT_LINE.findall(cloud.log()))
    t0 = time.time()
    assert cloud.term(30) == 0
    took = time.time() - t0
    assert took < 10, took                                    # drain_timeout_s=2 plus process exit
    assert "stay in the outbox" in cloud.log()
    rx = WebhookReceiver(SECRET, port=rx_port, quiet=True).start()
    cloud.start()
    try:
        assert wait_for(lambda: _complete(rx, alerts), 30), receipts(rx)
    finally:
        cloud.stop()
        rx.stop()
    per_alert, repeats = receipts(rx)
    assert alerts and set(per_alert) == alerts and repeats == 0
