"""A real `redis-server` for the scale-out tests: on a free loopback port, files in the test's temp dir.

Skips (with the reason) only when the binary is absent; `.ci/run` installs it.
"""
from __future__ import annotations

import pytest

from testkit.scale_procs import RedisProc, redis_available

needs_redis = pytest.mark.skipif(not redis_available(), reason="redis-server not installed (.ci/run installs it)")


@pytest.fixture
def redis_server(tmp_path):
    """A started RedisProc (``.url``, ``.port``); stopped after the test."""
    if not redis_available():
        pytest.skip("redis-server not installed (.ci/run installs it)")
    server = RedisProc(tmp_path / "redis").start()
    yield server
    server.stop()
