"""HTTP POST webhook sink with HMAC-SHA256 signatures (Standard Webhooks headers, see signing.py).

4xx answers other than 408/429 are permanent (the receiver rejected the
body: retrying won't help); 5xx, 408, 429 and transport errors are retried
by the dispatcher with backoff.

A failed attempt says why in plain words (``transport_cause``): "connection refused", "DNS
failure", "timeout", "TLS ...", not httpx's ``ConnectError: All connection attempts failed``,
whose cause sits three exceptions down the chain.
"""
from __future__ import annotations

import errno
import socket
import ssl

import httpx

from cloud.alerts.alert import Alert
from vigil.signing import signed_headers
from cloud.alerts.sinks.base import AlertSink, DeliveryError
from vigil.redact import redact, redact_url

RETRYABLE_STATUS = {408, 429}


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def transport_cause(exc: httpx.HTTPError, timeout_s: float) -> str:
    """What went wrong on the way to the receiver, in an operator's words."""
    url = getattr(exc, "request", None) and exc.request.url
    where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}" if url else "the receiver"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timeout: no connection to {where} within {timeout_s:g} s"
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return f"timeout: {where} accepted the connection but did not answer within {timeout_s:g} s"
    if isinstance(exc, httpx.PoolTimeout):
        return f"timeout: no free connection to {where} within {timeout_s:g} s"
    for inner in _chain(exc):
        if isinstance(inner, socket.gaierror):
            return f"DNS failure: cannot resolve host {url.host if url else '?'!r}"
        if isinstance(inner, ssl.SSLCertVerificationError):
            return f"TLS: {where}'s certificate was not accepted ({inner.verify_message or inner.reason})"
        if isinstance(inner, ssl.SSLError):
            return f"TLS handshake with {where} failed ({inner.reason or inner})"
        if isinstance(inner, ConnectionRefusedError) or getattr(inner, "errno", None) == errno.ECONNREFUSED:
            return f"connection refused by {where}: is the receiver running, on this port?"
        if getattr(inner, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return f"no route to {where}"
        if getattr(inner, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
            return f"{where} closed the connection without an answer (reset)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} closed the connection without an answer"
    return f"{type(exc).__name__}: {redact(str(exc))}"


class WebhookSink(AlertSink):
    def __init__(self, url: str, secret: str, timeout_s: float = 5.0, name: str | None = None):
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.name = name or f"webhook:{redact_url(url)}"
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, alert: Alert) -> None:
        body = alert.to_json()
        headers = signed_headers(self.secret, body, msg_id=alert.idempotency_key)
        headers["X-Vigil-Alert-Id"] = alert.alert_id
        headers["X-Vigil-Stage"] = alert.stage
        try:
            resp = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            # No sink name in the message: the dispatcher's line and the dead letter name the sink already.
            raise DeliveryError(transport_cause(exc, self.timeout_s)) from exc
        if resp.status_code >= 300:
            retryable = resp.status_code >= 500 or resp.status_code in RETRYABLE_STATUS
            raise DeliveryError(f"HTTP {resp.status_code}", retryable=retryable)

    async def close(self) -> None:
        await self._client.aclose()
