"""Secrets never reach a log line: URL credentials, secret-looking query parameters and known tokens.

``install_log_redaction`` puts :class:`RedactingFilter` on the root logger's handlers, so every
record any library emits (httpx logs request URLs at INFO, OpenCV/ffmpeg error strings carry
RTSP URLs) is formatted, scrubbed and only then written. Secrets that are not recognisable by
shape (edge tokens, webhook secrets) are registered with ``register_secret`` when the config is
loaded. What is replaced: ``scheme://user:password@`` -> ``scheme://user:***@``; the values of
query parameters whose name suggests a secret; any registered secret's text.
"""
from __future__ import annotations

import logging
import re
import threading

MASK = "***"
MIN_SECRET_CHARS = 4   # shorter registered "secrets" would mask ordinary words
SECRET_PARAMS = ("token", "access_token", "key", "api_key", "apikey", "secret", "password", "passwd", "pwd",
                 "auth", "sig", "signature", "credential")

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_QUERY = re.compile(r"(?P<key>[?&;](?:" + "|".join(SECRET_PARAMS) + r"))=(?P<val>[^&#\s\"']+)", re.IGNORECASE)
_known: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Mask this exact text wherever it appears in a log line."""
    if secret and len(secret) >= MIN_SECRET_CHARS:
        with _lock:
            _known.add(secret)


def redact(text: str) -> str:
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['key']}={MASK}", text)
    for s in sorted(_known, key=len, reverse=True):
        if s in text:
            text = text.replace(s, MASK)
    return text


def redact_url(url: str) -> str:
    return redact(str(url))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; leave it to logging
            return True
        clean = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (root by default) that lacks it."""
    logger = logger or logging.getLogger()
    for h in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())
