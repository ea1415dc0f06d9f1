"""How long a scale-out role runs: until SIGTERM/SIGINT, or until one of its loops dies."""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("vigil.scale")
EXIT_LOOP_FAILED = 1


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
