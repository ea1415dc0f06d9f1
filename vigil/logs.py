"""Logging set-up shared by the command-line entry points: a level, and text or JSON lines.

JSON lines (one object per record: time, level, logger, message, plus the exception
text when there is one) are what log shippers (Loki/Promtail, Fluent Bit, the Docker
json-file driver read by them) index without a parsing rule; text is for people.

Libraries speak only at WARNING and above unless the level is DEBUG: at INFO, httpx wrote one line
per webhook POST and aiortc/aioice several per WebRTC viewer, burying Vigil's own lines. The
native libraries (OpenCV, FFmpeg) are quieted where captures open (edge/sources/opencv.py).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Literal

from vigil.redact import RedactingFilter

LogFormat = Literal["text", "json"]
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers of the libraries we use that log routine work at INFO (each name covers its children).
# (Model downloads are left alone: their progress is what a first start should show.)
LIBRARY_LOGGERS = ("httpx", "httpcore", "aiortc", "aioice", "av", "libav", "grpc", "aiohttp", "asyncio",
                   "urllib3", "PIL", "redis", "websockets", "hpack", "filelock")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    """Replace the root logger's handlers with one that writes `fmt` lines at `level`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter())  # no secret reaches a log line, whoever logs it
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet_libraries(level)


def quiet_libraries(level: str) -> None:
    """Library loggers at WARNING, unless ``level`` is DEBUG (then they inherit it, and say everything)."""
    debug = logging.getLevelName(level.upper()) == logging.DEBUG
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--version, --log-level and --log-format, the same on every Vigil command."""
    from vigil import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS,
                        help="log level (overrides log_level in the config)")
    parser.add_argument("--log-format", choices=LOG_FORMATS,
                        help="text for people, json for log shippers (overrides log_format in the config)")


def common_overrides(args: argparse.Namespace) -> dict:
    out: dict = {}
    if getattr(args, "log_level", None):
        out["log_level"] = args.log_level
    if getattr(args, "log_format", None):
        out["log_format"] = args.log_format
    return out
