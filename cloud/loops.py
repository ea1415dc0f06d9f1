"""The service's background loops (describe deadlines, outbox housekeeping, token reloads, store
retention, storage checks) survive an exception in one iteration: it is logged and the loop goes on.

A loop that died on the first error (a full disk during ``expire``) silently stopped its work
for the rest of the process: no ``timeout`` stage was ever sent again. Each step says what it
concerns itself (the alert an error belongs to); the guard only keeps the loop alive and keeps
the log readable: the same error is written at most once per ``LOG_EVERY_S`` with its
traceback the first time.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Awaitable, Callable

from cloud.storage_fault import is_storage_error

log = logging.getLogger("vigil.cloud")

LOG_EVERY_S = 60.0


class ErrorLog:
    """One line per distinct error per ``every_s`` (a loop ticking 10 times a second must not write 10 lines)."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.every_s, self._clock = every_s, clock
        self._last: dict[str, float] = {}
        self.errors = 0

    def should_log(self, key: str) -> bool:
        self.errors += 1
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        self._last[key] = now
        return True

    def first_time(self, key: str) -> bool:
        return key not in self._last


async def run_forever(name: str, step: Callable[[], Awaitable[None] | None], interval_s: float, *,
                      sleep_first: bool = False, errors: ErrorLog | None = None) -> None:
    """Call ``step`` every ``interval_s`` until cancelled; an exception in one call is logged, not fatal."""
    errors = errors or ErrorLog()
    first = not sleep_first
    while True:
        if not first:
            await asyncio.sleep(interval_s)
        first = False
        try:
            result = step()
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            key = f"{type(exc).__name__}: {exc}"
            first = errors.first_time(key) and not is_storage_error(exc)   # a full disk needs no traceback
            if errors.should_log(key):
                log.error("%s loop: one iteration failed (%s); the loop goes on", name, key, exc_info=first)
