"""Broken configuration stops start-up with a message naming the bad key (both sides, via the real CLIs)."""
import subprocess
import sys

import pytest


def _run(module, *args, env=None):
    import os
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120, env=e)


@pytest.mark.parametrize("module", ["edge.cli", "cloud.cli"])
def test_unknown_key_in_yaml_is_named(module, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("log_level: INFO\nlog_levle: DEBUG\n")
    out = _run(module, "--config", str(bad), "--check-config")
    assert out.returncode == 2
    assert "log_levle" in out.stderr and "unknown key" in out.stderr


def test_bad_env_value_is_named():
    out = _run("cloud.cli", "--check-config", env={"VIGIL_CLOUD__SERVER__PORT": "not-a-port"})
    assert out.returncode == 2 and "server.port" in out.stderr


def test_bad_camera_config_is_named(tmp_path):
    bad = tmp_path / "edge.yaml"
    bad.write_text("cameras:\n  - id: c1\n    url: x.mp4\n    objects: [unicorn]\n")
    out = _run("edge.cli", "--config", str(bad), "--check-config")
    assert out.returncode == 2 and "cameras.0.objects" in out.stderr and "unicorn" in out.stderr


@pytest.mark.parametrize("path", ["config/edge.yaml", "config/cloud.yaml"])
def test_shipped_example_configs_are_valid(path):
    module = "edge.cli" if "edge" in path else "cloud.cli"
    out = _run(module, "--config", path, "--check-config", env={"VIGIL_DEMO": "true"})  # they carry the demo credentials
    assert out.returncode == 0, out.stderr


def test_missing_video_file_exits_with_clear_message(tmp_path):
    out = _run("edge.cli", "--demo", "--camera", str(tmp_path / "missing.mp4"), "--cloud", "127.0.0.1:9")
    assert out.returncode == 2 and "video file not found" in out.stderr and "missing.mp4" in out.stderr
