"""`vigil-cloud --role gateway|worker|delivery`: refuses a wrong mode or an absent Redis in one line,
starts against a real redis-server and exits 0 on SIGTERM."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testkit.fault_procs import free_port
from testkit.scale_procs import RoleProc, scale_config
from tests.helpers.redis_server import needs_redis, redis_server  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[3]
ROLES = ["gateway", "worker", "delivery"]


def _cli(tmp_path, config: dict, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "cloud.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "cloud.cli", "--config", str(path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _config(tmp_path, redis_url: str) -> dict:
    return scale_config(free_port(), redis_url, "http://127.0.0.1:9/alerts", tmp_path / "outbox.db")


@pytest.mark.parametrize("role", ROLES)
def test_a_role_needs_redis_mode(tmp_path, role):
    cfg = _config(tmp_path, "redis://127.0.0.1:9/0")
    cfg["scale"]["mode"] = "single"
    out = _cli(tmp_path, cfg, "--role", role)
    assert out.returncode == 2 and f"--role {role} needs scale.mode: redis" in out.stderr, out.stderr


def test_redis_mode_needs_a_role(tmp_path):
    out = _cli(tmp_path, _config(tmp_path, "redis://127.0.0.1:9/0"))
    assert out.returncode == 2 and "--role gateway, worker or delivery" in out.stderr, out.stderr


@pytest.mark.parametrize("role", ROLES)
def test_unreachable_redis_is_one_line_and_exit_1(tmp_path, role):
    out = _cli(tmp_path, _config(tmp_path, f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"), "--role", role)
    assert out.returncode == 1, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("vigil-cloud:")]
    assert len(errors) == 1 and "scale.redis_url" in errors[0], out.stderr
    assert "Traceback" not in out.stderr and "s3cret-pass" not in out.stderr


@needs_redis
@pytest.mark.parametrize("role", ROLES)
def test_each_role_starts_on_a_real_redis_and_exits_0_on_sigterm(tmp_path, role, redis_server):
    proc = RoleProc(tmp_path, role, role, _config(tmp_path, redis_server.url)).start()
    assert proc.term(30) == 0, proc.log()[-2000:]


@needs_redis
def test_a_second_delivery_process_waits_until_the_first_is_gone(tmp_path, redis_server):
    from testkit.fault_procs import wait_for
    cfg = _config(tmp_path, redis_server.url)
    first = RoleProc(tmp_path, "delivery1", "delivery", cfg).start()
    second = RoleProc(tmp_path, "delivery2", "delivery", cfg)
    try:
        with pytest.raises(TimeoutError):
            second.start(timeout_s=5)                        # order per alert: one outbox reads the stream
        assert "another delivery process holds" in second.log()
        second = RoleProc(tmp_path, "delivery2", "delivery", cfg)
        assert first.term(30) == 0                           # releases the lock on the way out
        second.start(timeout_s=30)
    finally:
        first.kill()
        second.kill()
    assert wait_for(lambda: "delivery: reading" in second.log(), 1)


@needs_redis
def test_dead_jobs_are_listed_and_queued_again(tmp_path, redis_server):
    import asyncio
    import json

    from cloud.scale.jobs import JobStream
    from cloud.scale.redis_checks import connect_async
    from vigil.v1 import vigil_pb2 as pb

    async def bury_one():
        r = connect_async(redis_server.url)
        jobs = JobStream(r, "vigil")
        await jobs.ensure_group()
        await jobs.publish("edge", pb.FramePacket(camera_id="cam", sequence=7, event_id="e7",
                                                  priority=pb.SEMANTIC_FRAME), 60)
        [job] = await jobs.read("w1", 1, 100)
        await jobs.bury("w1", [job.entry_id])
        backlog = await jobs.backlog()
        await r.aclose()
        return backlog
    assert asyncio.run(bury_one()) == 0
    cfg = _config(tmp_path, redis_server.url)
    listed = _cli(tmp_path, cfg, "--dead-jobs", "list")
    assert listed.returncode == 0 and "1 dead jobs" in listed.stderr, listed.stderr
    row = json.loads(listed.stdout.strip())
    assert (row["edge_id"], row["camera_id"], row["sequence"], row["priority"]) == ("edge", "cam", 7, "SEMANTIC_FRAME")
    replayed = _cli(tmp_path, cfg, "--dead-jobs", "replay")
    assert replayed.returncode == 0 and "1 dead jobs queued again" in replayed.stdout
    import redis
    r = redis.Redis.from_url(redis_server.url)
    assert r.xlen("vigil:jobs") == 1 and r.xlen("vigil:jobs:dead") == 0
    r.close()
