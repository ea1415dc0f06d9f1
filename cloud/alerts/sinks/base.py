"""The one interface every alert destination implements."""
from __future__ import annotations

import abc

from cloud.alerts.alert import Alert


class DeliveryError(RuntimeError):
    """A delivery attempt failed; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class AlertSink(abc.ABC):
    name: str = "sink"

    @abc.abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver one alert stage or raise DeliveryError."""

    async def close(self) -> None:  # pragma: no cover - optional
        return None
