"""HMAC-SHA256 webhook signatures (the scheme Stripe/GitHub users know).

The signature covers ``f"{timestamp}.{body}"`` so a captured body cannot be
replayed with a new timestamp; receivers should also reject old timestamps.
Headers: ``X-Vigil-Timestamp`` (unix seconds) and
``X-Vigil-Signature: sha256=<hex>``.
"""
from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Vigil-Timestamp"
SIGNATURE_HEADER = "X-Vigil-Signature"
DEFAULT_TOLERANCE_S = 300.0  # same replay window as common webhook providers


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    ts = str(int(now if now is not None else time.time()))
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body),
            "Content-Type": "application/json"}


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """True when the signature matches and the timestamp is fresh."""
    lower = {k.lower(): v for k, v in headers.items()}
    ts = lower.get(TIMESTAMP_HEADER.lower())
    sig = lower.get(SIGNATURE_HEADER.lower())
    if not ts or not sig:
        return False
    try:
        age = abs((now if now is not None else time.time()) - int(ts))
    except ValueError:
        return False
    if age > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), sig)
