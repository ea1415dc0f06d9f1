"""Webhook signatures: Standard Webhooks (https://www.standardwebhooks.com) plus our legacy headers.

Standard Webhooks headers, so receivers can use its ready-made verifiers:

* ``webhook-id``: the stage's idempotency key (stable across retries and restarts: drop repeats);
* ``webhook-timestamp``: unix seconds of this attempt;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of f"{id}.{timestamp}.{body}">``.

The key is the secret's bytes after base64-decoding when it has the spec's ``whsec_`` prefix,
else the secret's UTF-8 bytes (any string from our config works; a ``whsec_`` secret also works
with the spec's libraries). Receivers must reject timestamps outside a tolerance window and
ids they have already processed (replays).

Legacy headers (kept for receivers written against earlier versions): ``X-Vigil-Timestamp``
and ``X-Vigil-Signature: sha256=<hex HMAC of f"{timestamp}.{body}">``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Vigil-Timestamp"
SIGNATURE_HEADER = "X-Vigil-Signature"
ID_HEADER_SW = "webhook-id"
TIMESTAMP_HEADER_SW = "webhook-timestamp"
SIGNATURE_HEADER_SW = "webhook-signature"
SECRET_PREFIX_SW = "whsec_"
DEFAULT_TOLERANCE_S = 300.0  # same replay window as common webhook providers


def _key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX_SW):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX_SW):], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Legacy ``X-Vigil-Signature`` value."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign_standard(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks ``webhook-signature`` value."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(secret: str, body: bytes, now: float | None = None, msg_id: str | None = None) -> dict[str, str]:
    ts = str(int(now if now is not None else time.time()))
    headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body), "Content-Type": "application/json"}
    if msg_id is not None:
        headers.update({ID_HEADER_SW: msg_id, TIMESTAMP_HEADER_SW: ts,
                        SIGNATURE_HEADER_SW: sign_standard(secret, msg_id, ts, body)})
    return headers


def _fresh(ts: str, now: float | None, tolerance_s: float) -> bool:
    try:
        age = abs((now if now is not None else time.time()) - int(ts))
    except ValueError:
        return False
    return age <= tolerance_s


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """True when a signature matches and the timestamp is fresh (Standard Webhooks headers win when present)."""
    lower = {k.lower(): v for k, v in headers.items()}
    if ID_HEADER_SW in lower:
        msg_id, ts, sigs = lower[ID_HEADER_SW], lower.get(TIMESTAMP_HEADER_SW, ""), lower.get(SIGNATURE_HEADER_SW, "")
        if not ts or not sigs or not _fresh(ts, now, tolerance_s):
            return False
        expected = sign_standard(secret, msg_id, ts, body)
        return any(hmac.compare_digest(expected, s) for s in sigs.split(" ") if s)
    ts = lower.get(TIMESTAMP_HEADER.lower())
    sig = lower.get(SIGNATURE_HEADER.lower())
    if not ts or not sig or not _fresh(ts, now, tolerance_s):
        return False
    return hmac.compare_digest(sign(secret, ts, body), sig)
