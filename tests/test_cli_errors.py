"""What a user meets when a CLI cannot start or stops: one line naming the problem, a documented exit
status (docs/exit-codes.md: 0 clean stop, 1 could not run, 2 refused configuration), no traceback.
Both CLIs as real subprocesses; --check-config and start-up run the same refusals."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from testkit.fault_procs import CloudProc, cloud_config, free_port, run_edge, start_edge, wait_for
from vigil import exit_codes

NOISE = ("Traceback", "terminate called", "Error:", "RuntimeWarning")


def _run(module, *args, env=None, timeout=120, cwd=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    e.update(HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                          env=e, cwd=cwd)


def _one_line(stderr: str, *words: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert not any(n in lines[0] for n in NOISE[:2]), stderr
    for w in words:
        assert w in lines[0], stderr
    return lines[0]


def _cloud_yaml(tmp_path, **over) -> str:
    cfg = {"demo": True, "engine": {"model": "stub:0.05"}, "server": {"port": 0},
           "api": {"host": "127.0.0.1", "port": 0}, "alerts": {"outbox_path": str(tmp_path / "o.db")},
           "store": {"path": str(tmp_path / "e.db")}}
    for key, value in over.items():
        cfg.setdefault(key, {})
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    path = tmp_path / "cloud.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


# Each case: a configuration start-up refuses; --check-config must refuse it with the same line.
REFUSED = {
    "cloud demo credentials": ("cloud.cli", lambda p: ["--config", _cloud_yaml(p, demo=False)],
                               "published demo credentials"),
    "cloud 0.0.0.0 without TLS": ("cloud.cli", lambda p: ["--config", _cloud_yaml(p, server={"host": "0.0.0.0"})],
                                  "without TLS"),
    "cloud model path missing": ("cloud.cli", lambda p: ["--config", _cloud_yaml(p, engine={"model": "/models/does-not-exist"})],
                                 "no such directory: /models/does-not-exist"),
    "cloud role without redis": ("cloud.cli", lambda p: ["--config", _cloud_yaml(p), "--role", "worker"],
                                 "needs scale.mode: redis"),
    "edge demo token": ("edge.cli", lambda p: ["--camera", "sample:bikes.mp4", "--cloud", "127.0.0.1:9"],
                        "published demo credentials"),
    "edge remote target without TLS": ("edge.cli", lambda p: ["--demo", "--camera", "sample:bikes.mp4", "--cloud",
                                                              "192.0.2.1:50051"], "no TLS configured"),
    "edge camera file missing": ("edge.cli", lambda p: ["--demo", "--camera", str(p / "missing.mp4"), "--cloud",
                                                        "127.0.0.1:9"], "missing.mp4"),
    "edge unreadable TLS file": ("edge.cli", lambda p: ["--demo", "--camera", "sample:bikes.mp4", "--cloud", "192.0.2.1:50051"],
                                 "cloud.tls.ca_file: cannot read"),
}
EXTRA_ENV = {"edge unreadable TLS file": {"VIGIL_EDGE__CLOUD__TLS": "{ca_file: /no/such/ca.pem}"}}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_check_config_applies_every_start_up_refusal(case, tmp_path):
    module, args, words = REFUSED[case]
    env = EXTRA_ENV.get(case)
    checked = _run(module, *args(tmp_path), "--check-config", env=env, cwd=tmp_path)
    started = _run(module, *args(tmp_path), env=env, cwd=tmp_path, timeout=60)
    assert checked.returncode == started.returncode == exit_codes.CONFIG, (checked.stderr, started.stderr)
    assert _one_line(checked.stderr, words) == _one_line(started.stderr, words)
    assert "configuration OK" not in checked.stdout


def test_busy_api_port_is_one_line_and_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _run("cloud.cli", "--config", _cloud_yaml(tmp_path, api={"port": port}), cwd=tmp_path, timeout=60)
    assert out.returncode == exit_codes.RUNTIME
    _one_line(out.stderr, "operator API", f"127.0.0.1:{port}", "already in use")


def test_wrong_edge_token_is_one_line_and_a_clean_exit(tmp_path):
    port = free_port()
    cloud = CloudProc(tmp_path, port, dict(cloud_config(port, "http://127.0.0.1:9/x", tmp_path / "o.db"),
                                           api={"enabled": False})).start()
    try:
        for run in range(3):   # the abort it replaces came in about one run of three
            out = run_edge(port, tmp_path, tmp_path / "spool", realtime=True, timeout_s=90, extra_env={
                "VIGIL_EDGE__CLOUD__TOKEN": "wrong-token-123", "VIGIL_EDGE__LOG_LEVEL": "ERROR",
                "VIGIL_EDGE__METRICS__ENABLED": "false"})
            assert out.returncode == exit_codes.CONFIG, (run, out.returncode, out.stderr)
            _one_line(out.stderr, "rejected edge 'demo-edge'", "wrong token")
    finally:
        cloud.stop()


@pytest.mark.parametrize("side", ["cloud", "edge"])
def test_ctrl_c_is_a_clean_stop_with_exit_0_on_both_sides(side, tmp_path):
    port = free_port()
    cloud = CloudProc(tmp_path, port, dict(cloud_config(port, "http://127.0.0.1:9/x", tmp_path / "o.db"),
                                           api={"enabled": False})).start()
    try:
        if side == "cloud":
            cloud.proc.send_signal(signal.SIGINT)
            assert cloud.proc.wait(60) == exit_codes.OK
            return
        log = tmp_path / "edge.log"
        edge = start_edge(port, tmp_path, tmp_path / "spool", log, realtime=True)
        assert wait_for(lambda: "camera" in log.read_text(), 60)
        time.sleep(1.0)
        edge.send_signal(signal.SIGINT)
        assert edge.wait(60) == exit_codes.OK, log.read_text()[-2000:]
        assert "Traceback" not in log.read_text()
    finally:
        cloud.stop()
