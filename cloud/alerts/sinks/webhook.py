"""HTTP POST webhook sink with HMAC-SHA256 signatures (Standard Webhooks headers, see signing.py).

4xx answers other than 408/429 are permanent (the receiver rejected the
body: retrying won't help); 5xx, 408, 429 and transport errors are retried
by the dispatcher with backoff.
"""
from __future__ import annotations

import httpx

from cloud.alerts.alert import Alert
from vigil.signing import signed_headers
from cloud.alerts.sinks.base import AlertSink, DeliveryError
from vigil.redact import redact, redact_url

RETRYABLE_STATUS = {408, 429}


class WebhookSink(AlertSink):
    def __init__(self, url: str, secret: str, timeout_s: float = 5.0, name: str | None = None):
        self.url = url
        self.secret = secret
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
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {redact(str(exc))}") from exc
        if resp.status_code >= 300:
            retryable = resp.status_code >= 500 or resp.status_code in RETRYABLE_STATUS
            raise DeliveryError(f"{self.name}: HTTP {resp.status_code}", retryable=retryable)

    async def close(self) -> None:
        await self._client.aclose()
