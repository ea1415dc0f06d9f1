"""What an operator meets at the command line: --version, demo credentials refused, model failure exits, JSON logs."""
import json
import os
import subprocess
import sys

import pytest

from vigil import __version__


def _run(module, *args, env=None, timeout=120):
    e = {k: v for k, v in os.environ.items() if k != "VIGIL_DEMO"}
    e.update(HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout, env=e)


@pytest.mark.parametrize("module", ["edge.cli", "cloud.cli"])
def test_version(module):
    out = _run(module, "--version")
    assert out.returncode == 0 and __version__ in out.stdout


@pytest.mark.parametrize("module,key", [("edge.cli", "cloud.token"), ("cloud.cli", "auth.tokens.demo-edge")])
def test_published_demo_credentials_are_refused_unless_demo(module, key, tmp_path):
    side = module.split(".")[0]
    out = _run(module, "--config", f"config/{side}.yaml", *(["--port", "0"] if side == "cloud" else []))
    assert out.returncode == 2 and "demo credentials" in out.stderr and key in out.stderr


def test_cloud_exits_nonzero_when_its_model_cannot_load():
    """A hub id offline: the process must end (restart policies fire), not listen forever."""
    out = _run("cloud.cli", "--demo", "--port", "0", "--model", "vigil-test/no-such-model",
               "--log-format", "json", timeout=180)
    assert out.returncode == 1, out.stderr[-2000:]
    records = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["level"] == "ERROR" and "model could not be loaded" in r["message"] for r in records)


@pytest.mark.slow
def test_cloud_serves_health_once_loaded_and_exits_zero_on_sigterm():
    """The compose life cycle: start, healthcheck turns SERVING, SIGTERM drains and exits 0."""
    import signal
    import socket
    import time

    from cloud.health import main as probe

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = {k: v for k, v in os.environ.items() if k != "VIGIL_DEMO"}
    e.update(HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "cloud.cli", "--config", "config/cloud.yaml", "--demo",
                             "--port", str(port)], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 150
        while probe([f"127.0.0.1:{port}", "--timeout", "1"]) != 0:
            assert proc.poll() is None and time.time() < deadline, "the cloud never became SERVING"
            time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "shutting down: draining alerts" in err


@pytest.mark.slow
def test_edge_stops_on_sigterm_within_the_grace_period(compose):
    """A looping camera never ends by itself: SIGTERM must stop the agent (exit 0) well inside stop_grace_period."""
    import asyncio
    import signal
    import time

    from cloud.config import load_cloud_config
    from cloud.service import CloudService
    from edge.cli import SHUTDOWN_FLUSH_S
    from tests.helpers.cloud_fakes import FakeEngine
    from vigil.footage import clip_path

    grace = float(compose.spec["services"]["edge"]["stop_grace_period"].rstrip("s"))
    assert SHUTDOWN_FLUSH_S < grace

    async def go():
        cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0}, "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None},
                                                       "alerts": {"outbox_path": None}})
        service = CloudService(cfg, engine=FakeEngine(), sinks=[])
        port = await service.start()
        e = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        e["VIGIL_EDGE__CAMERAS"] = f"[{{id: cam-1, url: '{clip_path('bikes.mp4')}', loop: true}}]"
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "edge.cli", "--demo", "--cloud",
                                                    f"127.0.0.1:{port}", env=e, stderr=asyncio.subprocess.PIPE)
        try:
            await asyncio.sleep(8)
            assert proc.returncode is None, "the looping edge ended by itself"
            t0 = time.time()
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=grace)
            return proc.returncode, time.time() - t0, err.decode()
        finally:
            if proc.returncode is None:
                proc.kill()
            await service.stop()

    rc, took, err = asyncio.run(go())
    assert rc == 0 and took < grace, err[-2000:]
    assert "shutting down: cameras stop" in err
