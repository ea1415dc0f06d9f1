"""What the edge says about its link to the cloud: failures in plain words, without a log storm.

The client retries an unreachable cloud forever (with backoff: the cloud may come up later, and
frames wait in the transmission policy meanwhile). Every failed attempt is counted, but only these
deserve a WARNING: the first failure (at start this is the line that says the target is
unreachable and why), a failure whose reason differs from the last one, and a reminder every
``reminder_s`` while the link stays down. The others are DEBUG. Shed or degraded frames reported
by the cloud's admission control get the same treatment (one WARNING per ``reminder_s`` with the
counts since the last one). Pure: no clock, no logging, no gRPC.
"""
from __future__ import annotations

import re

REMINDER_S = 60.0   # a link that stays down is mentioned again this often

# gRPC's error details -> what an operator should check; first match wins.
_CAUSES = (
    (re.compile(r"resolv|lookup|Domain name not found|Name or service not known", re.I),
     "DNS lookup failed (check the host name in cloud.target)"),
    (re.compile(r"handshake|SSL|TLS|certificate", re.I),
     "TLS handshake failed (check cloud.tls: ca_file, server_name; is the cloud serving TLS?)"),
    (re.compile(r"Connection refused", re.I), "connection refused (is vigil-cloud running on that port?)"),
    (re.compile(r"No route to host|Network is unreachable", re.I), "no route to the host"),
    (re.compile(r"no Welcome within|Deadline|timed out|timeout", re.I), "no answer (host down or firewalled?)"),
)


def failure_cause(details: str) -> str:
    """A short, actionable cause for a gRPC/connection error's text (the text itself when unknown)."""
    for pattern, cause in _CAUSES:
        if pattern.search(details):
            return cause
    return details.strip() or "unknown error"


class LinkReporter:
    """Which link failures to log at WARNING (the rest at DEBUG): see the module docstring."""

    def __init__(self, target: str, reminder_s: float = REMINDER_S):
        self.target = target
        self.reminder_s = reminder_s
        self.ever_connected = False
        self.failures = 0            # consecutive failed attempts
        self._down_since: float | None = None
        self._last_cause: str | None = None
        self._last_warned = 0.0

    def on_failure(self, details: str, now: float, retry_in_s: float) -> str | None:
        """The WARNING to log for this failed attempt, or None when it would only repeat the last one."""
        cause = failure_cause(details)
        self.failures += 1
        first = self._down_since is None
        if first:
            self._down_since = now
        changed = cause != self._last_cause
        self._last_cause = cause
        if not (first or changed or now - self._last_warned >= self.reminder_s):
            return None
        self._last_warned = now
        if first and not self.ever_connected:
            return (f"cloud {self.target} unreachable: {cause}; retrying with backoff (next in {retry_in_s:.1f}s), "
                    f"frames wait in the queue meanwhile")
        if first:
            return f"cloud link {self.target} down: {cause}; reconnecting with backoff (next in {retry_in_s:.1f}s)"
        return (f"cloud {self.target} still unreachable after {self.failures} attempts over "
                f"{now - self._down_since:.0f}s: {cause}")

    def on_connected(self, now: float) -> str | None:
        """An INFO line when this ends a run of failures, else None."""
        line = None
        if self._down_since is not None:
            line = f"cloud {self.target} reachable again after {self.failures} failed attempts over {now - self._down_since:.0f}s"
        self.ever_connected = True
        self.failures, self._down_since, self._last_cause = 0, None, None
        return line


class AdmissionReporter:
    """Counts frames the cloud shed or degraded; says so at most once per ``reminder_s``."""

    def __init__(self, reminder_s: float = REMINDER_S):
        self.reminder_s = reminder_s
        self._since: dict[str, int] = {}
        self._last_warned: float | None = None

    def on_ack(self, admission: str, now: float) -> str | None:
        """The WARNING to log for an Ack with a non-empty ``admission`` status, or None for now."""
        self._since[admission] = self._since.get(admission, 0) + 1
        if self._last_warned is not None and now - self._last_warned < self.reminder_s:
            return None
        window = "" if self._last_warned is None else f" in the last {now - self._last_warned:.0f}s"
        counts = ", ".join(f"{n} frames {status}" for status, n in sorted(self._since.items()))
        self._since.clear()
        self._last_warned = now
        return (f"cloud over its ingest memory budget: {counts}{window} (context frames shed are not resent; "
                f"alerts are never shed); sending less until its backpressure eases")
