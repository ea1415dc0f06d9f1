"""How long a scale-out role runs: until SIGTERM/SIGINT, or until one of its loops dies.

A role's periodic loops run under the single process's loop guard (cloud/loops.py): an exception in
one iteration is logged (once a minute per distinct error) and the loop goes on, so a loop dies only
when it means to (the delivery lock lost) and the role then exits 1 for its supervisor."""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from cloud.loops import run_forever

Loop = tuple[str, Callable[[], Awaitable[None] | None], float, bool]   # name, one iteration, interval, sleep first

log = logging.getLogger("vigil.scale")
EXIT_LOOP_FAILED = 1


def start_loops(loops: list[Loop]) -> list[asyncio.Task]:
    """Each (name, step, interval_s, sleep_first) as a task that survives an exception in one step."""
    return [asyncio.create_task(run_forever(name, step, interval, sleep_first=first), name=name)
            for name, step, interval, first in loops]


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
    log.error("%s: %s stopped unexpectedly (%s); exiting", role, failed.get_name(), exc or "cancelled")
    return EXIT_LOOP_FAILED
