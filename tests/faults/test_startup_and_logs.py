"""Start-up refusals and secrets in logs, with real processes."""
import signal
import subprocess
import sys
import time

from testkit.fault_procs import SECRET, CloudProc, child_env, cloud_config, free_port, start_edge, wait_for
from vigil_tools.webhook_echo import WebhookReceiver


def test_second_cloud_on_an_occupied_port_exits_with_one_line(tmp_path):
    port = free_port()
    first = CloudProc(tmp_path, port, cloud_config(port, "http://127.0.0.1:9/x", tmp_path / "a.db")).start()
    try:
        (tmp_path / "b").mkdir()
        second = CloudProc(tmp_path / "b", port, cloud_config(port, "http://127.0.0.1:9/x", tmp_path / "b.db"))
        done = subprocess.run([sys.executable, "-m", "cloud.cli", "--config", str(second.config_path)],
                              cwd=tmp_path, env=child_env({"VIGIL_CLOUD__LOG_LEVEL": "ERROR"}), capture_output=True,
                              text=True, timeout=60)
    finally:
        first.stop()
    assert done.returncode == 1
    err = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0], done.stderr


def test_secrets_never_reach_the_logs_of_a_full_run(tmp_path):
    rx = WebhookReceiver(SECRET, quiet=True).start()
    url_token = "tok3n-in-the-url"
    port = free_port()
    cfg = cloud_config(port, f"{rx.url}?token={url_token}", tmp_path / "o.db")
    cfg["alerts"]["webhooks"].append({"url": f"http://hookuser:hookpass-123@127.0.0.1:9/dead", "secret": "second-secret-xyz",
                                      "name": "dead"})
    cfg["auth"] = {"tokens": {"demo-edge": "edge-token-s3cret"}}
    cfg["log_level"] = "DEBUG"
    cloud = CloudProc(tmp_path, port, cfg).start()
    rtsp = "rtsp://admin:camera-pa55@127.0.0.1:9/stream"
    edge_log = tmp_path / "edge.log"
    edge = start_edge(port, tmp_path, tmp_path / "spool", edge_log, realtime=False, extra_env={
        "VIGIL_EDGE__CLOUD__TOKEN": "edge-token-s3cret", "VIGIL_EDGE__LOG_LEVEL": "DEBUG",
        "VIGIL_EDGE__CAMERAS": f"[{{id: cam-1, url: 'sample:bikes.mp4', fps: 5}}, "
                               f"{{id: cam-2, url: '{rtsp}', reconnect: {{open_timeout_s: 1, backoff_max_s: 1}}}}]"})
    try:
        # a live camera that never connects keeps the edge running: stop it once the clip's alerts are out
        assert wait_for(lambda: "described" in cloud.log() and edge_log.read_text().count("cam-2") >= 3, 90)
        time.sleep(2.0)
    finally:
        edge.send_signal(signal.SIGINT)
        edge.wait(30)
        cloud.stop()
        rx.stop()
    logs = cloud.log() + edge_log.read_text()
    assert "alert" in cloud.log() and "cam-2" in logs                  # the run really happened
    for secret in (url_token, "hookpass-123", "edge-token-s3cret", "camera-pa55", SECRET, "second-secret-xyz"):
        assert secret not in logs, secret


def test_an_edge_with_no_cloud_says_so_once_and_connects_when_it_comes(tmp_path):
    port = free_port()                                   # nothing listens there yet
    edge_log = tmp_path / "edge.log"
    edge = start_edge(port, tmp_path, tmp_path / "spool", edge_log)
    cloud = None
    try:
        assert wait_for(lambda: "unreachable" in edge_log.read_text(), 60), edge_log.read_text()
        time.sleep(4.0)                                  # several more attempts (reconnect_max_s is 1 here)
        warned = [line for line in edge_log.read_text().splitlines() if "WARNING" in line and str(port) in line]
        assert len(warned) == 1 and "unreachable: connection refused" in warned[0], warned
        cloud = CloudProc(tmp_path, port, cloud_config(port, "http://127.0.0.1:9/x", tmp_path / "o.db")).start()
        assert wait_for(lambda: "reachable again after" in edge_log.read_text(), 30), edge_log.read_text()[-2000:]
    finally:
        edge.send_signal(signal.SIGINT)
        edge.wait(30)
        if cloud is not None:
            cloud.stop()
