"""The exit statuses `vigil-cloud` and `vigil-edge` share (docs/exit-codes.md says the same for users).

A supervisor reads them: 0 needs nothing, 1 may be retried (the cause can go away: a port that
frees, Redis that comes back, a model that loads next time), 2 will fail the same way until
someone changes the configuration, so restarting in a loop does not help.
"""
from __future__ import annotations

import logging
import os
import sys

OK = 0          # finished, or stopped cleanly by SIGINT (Ctrl-C) or SIGTERM
RUNTIME = 1     # could not run: a port in use, Redis unreachable, the model failed to load
CONFIG = 2      # refused configuration: a bad key, a start-up refusal, credentials the cloud rejects


def exit_now(code: int) -> None:
    """Leave at once with ``code`` after flushing what was said.

    For a failure after native threads started (gRPC's, OpenCV's): letting the interpreter tear
    down around them can abort in C++ (``terminate called without an active exception``, status
    134) after the one clear line was printed. Everything durable (spool files, SQLite commits)
    is already on disk when this runs."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
