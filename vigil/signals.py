"""The one way a Vigil process learns it should stop: SIGINT or SIGTERM sets an asyncio Event."""
from __future__ import annotations

import asyncio
import signal


def stop_on_signals() -> asyncio.Event:
    """An Event set by SIGINT/SIGTERM on the running loop (where the platform lets handlers be added)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - not on this platform
            pass
    return stop
