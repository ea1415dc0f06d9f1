"""What `vigil-cloud --role ROLE` runs in scale-out mode, with the signal handling all roles share."""
from __future__ import annotations

import asyncio
import logging

from vigil.signals import stop_on_signals

log = logging.getLogger("vigil.scale")
EXIT_LOOP_FAILED = 1

ROLES = ("gateway", "worker", "delivery")


def role_error(role: str | None, mode: str) -> str | None:
    """Why ``role`` cannot run under ``scale.mode`` (None when it can)."""
    if role in (None, "single"):
        return "scale.mode is redis: start each process with --role gateway, worker or delivery" \
            if mode == "redis" else None
    if mode != "redis":
        return f"--role {role} needs scale.mode: redis (and scale.redis_url)"
    return None


async def serve_role(cfg, role: str) -> int:
    stop = stop_on_signals()
    if role == "gateway":
        from cloud.scale.gateway import serve
    elif role == "worker":
        from cloud.scale.worker import serve
    else:
        from cloud.scale.delivery import serve
    return await serve(cfg, stop)


async def until_stopped(stop: asyncio.Event, loops: list[asyncio.Task], role: str) -> int:
    """Wait for SIGTERM/SIGINT (0) or for one of the role's loops to die (1: a supervisor restarts it,
    rather than a process that looks alive and does nothing)."""
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopping, *loops], return_when=asyncio.FIRST_COMPLETED)
    if stopping in done:
        return 0
    stopping.cancel()
    failed = next(iter(done))
    exc = failed.exception() if not failed.cancelled() else None
    log.error("%s: %s stopped unexpectedly (%s); exiting", role, failed.get_coro().__qualname__, exc or "cancelled")
    return EXIT_LOOP_FAILED
