"""Per-camera connection state machine: connecting -> streaming -> stalled -> reconnecting.

Pure logic (no sockets, no threads, no clock: callers pass ``now``), so every
transition is tested directly. The worker (worker.py) feeds it events.

    connecting --open ok--> streaming --frame--> streaming
    connecting --open failed--> reconnecting --delay elapsed--> connecting
    streaming --no frame for read_timeout_s / read error--> stalled --> reconnecting
    any --end of file--> ended;  any --stop()--> stopped
    connecting --a file that will not decode--> failed (no retries: it will not get better)

What an operator is shown (``health``) folds these into fewer words: ``connecting`` (first
attempt), ``streaming``, ``reconnecting`` (with its cause), ``failed`` (with its cause: a file that
will not decode, or ``failed_after`` attempts in a row that failed; the latter is still retried
at the backoff's pace, so a camera that comes back streams again without a restart), ``ended``.

Backoff is the shared one (vigil/backoff.py): exponential (``backoff_initial_s`` x
``backoff_factor``^(failures-1), capped at ``backoff_max_s``), less a random share of up
to ``jitter`` of it, so a site's cameras, dropped together by one switch reboot, do not
retry in lockstep. A camera that delivers a frame is healthy again and its failure
count resets.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum

from edge.sources.config import ReconnectConfig
from vigil.backoff import backoff_delay


class CameraState(str, Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    ENDED = "ended"          # a file source reached its end (not an error)
    FAILED = "failed"        # a file that cannot be opened: retrying would not help
    STOPPED = "stopped"


@dataclass
class Transition:
    at: float
    old: CameraState
    new: CameraState
    why: str


@dataclass
class CameraStateMachine:
    cfg: ReconnectConfig = field(default_factory=ReconnectConfig)
    rng: random.Random = field(default_factory=random.Random)
    state: CameraState = CameraState.CONNECTING
    failures: int = 0              # consecutive failed opens/reads since the last good frame
    reconnects: int = 0            # reconnection attempts (connecting again after a failure)
    connections: int = 0           # successful opens; connections - 1 = recoveries
    stalls: int = 0
    frames: int = 0
    last_frame_at: float | None = None
    streaming_since: float | None = None
    retry_at: float | None = None
    state_since: float = 0.0
    transitions: int = 0           # total ever made (history keeps only the last 50)
    last_error: str = ""
    cause: str = ""                # why the last attempt failed, in an operator's words (no "open failed:" prefix)
    open_grace_s: float = 0.0      # extra time an open may take: a failed open is diagnosed before it is reported
    history: list[Transition] = field(default_factory=list)

    # -- transitions -----------------------------------------------------------
    def _go(self, new: CameraState, now: float, why: str) -> None:
        if new != self.state:
            self.history.append(Transition(now, self.state, new, why))
            del self.history[:-50]
            self.state = new
            self.state_since = now
            self.transitions += 1

    def backoff_delay(self) -> float:
        """Delay before the next attempt after ``failures`` consecutive failures (>= 1)."""
        return backoff_delay(max(1, self.failures), self.cfg.backoff_initial_s, self.cfg.backoff_max_s,
                             rng=self.rng, jitter=self.cfg.jitter, factor=self.cfg.backoff_factor)

    def _fail(self, now: float, error: str, cause: str) -> None:
        self.failures += 1
        self.last_error = error
        self.cause = cause
        self.retry_at = now + self.backoff_delay()
        self.streaming_since = None
        self._go(CameraState.RECONNECTING, now, error)

    def begin(self, now: float) -> None:
        """The first connection attempt starts now (the open timeout counts from here)."""
        self.state = CameraState.CONNECTING
        self.state_since = now

    def opened(self, now: float) -> None:
        self.connections += 1
        self._go(CameraState.STREAMING, now, "opened" if self.connections == 1 else "reconnected")
        self.streaming_since = now
        self.last_frame_at = now      # the read timeout counts from the open

    def open_failed(self, now: float, error: str) -> None:
        self._fail(now, f"open failed: {error}", error)

    def frame(self, now: float) -> None:
        if self.done:
            return
        self.frames += 1
        self.last_frame_at = now
        self.failures = 0
        if self.state != CameraState.STREAMING:
            self.streaming_since = now
            self._go(CameraState.STREAMING, now, "frame")

    def read_failed(self, now: float, error: str) -> None:
        if self.done:
            return
        self.stalls += 1
        self._go(CameraState.STALLED, now, error)
        self._fail(now, f"read failed: {error}", error)

    def check(self, now: float) -> bool:
        """Call periodically; True when the current attempt was just given up on: a stream with no
        frame for ``read_timeout_s`` (stalled), or an open hanging past ``open_timeout_s``."""
        if self.state == CameraState.CONNECTING and now - self.state_since > self.cfg.open_timeout_s + self.open_grace_s:
            why = f"open timed out after {self.cfg.open_timeout_s:g} s"
            self._fail(now, why, f"timeout: {why}")
            return True
        if self.state == CameraState.STREAMING and self.last_frame_at is not None \
                and now - self.last_frame_at > self.cfg.read_timeout_s:
            self.stalls += 1
            self._go(CameraState.STALLED, now, f"no frame for {now - self.last_frame_at:.1f} s")
            self._fail(now, f"stalled: no frame for {self.cfg.read_timeout_s:g} s",
                       f"stalled: no frame for {self.cfg.read_timeout_s:g} s")
            return True
        return False

    @property
    def done(self) -> bool:
        return self.state in (CameraState.ENDED, CameraState.STOPPED, CameraState.FAILED)

    def should_retry(self, now: float) -> bool:
        return self.state == CameraState.RECONNECTING and self.retry_at is not None and now >= self.retry_at

    def retrying(self, now: float) -> None:
        self.reconnects += 1
        self.retry_at = None
        self._go(CameraState.CONNECTING, now, f"retry #{self.reconnects}")

    def ended(self, now: float) -> None:
        self._go(CameraState.ENDED, now, "end of file")

    def failed(self, now: float, error: str) -> None:
        self.last_error = error
        self.cause = error
        self._go(CameraState.FAILED, now, error)

    def stop(self, now: float) -> None:
        if self.state not in (CameraState.ENDED, CameraState.FAILED):   # how it finished stays visible
            self._go(CameraState.STOPPED, now, "stopped")

    @property
    def last_reason(self) -> str:
        return self.history[-1].why if self.history else ""

    @property
    def shown_failed(self) -> bool:
        """Failed as an operator sees it: for good, or ``failed_after`` attempts in a row (still retried)."""
        return self.state == CameraState.FAILED or (
            self.state in (CameraState.CONNECTING, CameraState.RECONNECTING, CameraState.STALLED)
            and self.failures >= self.cfg.failed_after)

    def health(self, now: float) -> dict:
        """``state`` (connecting | streaming | reconnecting | failed | ended | stopped), ``cause`` (why it is
        not streaming; empty when it is) and ``retry_in_s`` (None unless a retry is scheduled)."""
        if self.state in (CameraState.STREAMING, CameraState.ENDED, CameraState.STOPPED):
            shown, cause = self.state.value, ""
        elif self.shown_failed:
            shown, cause = "failed", self.cause
        elif self.state == CameraState.CONNECTING and self.failures == 0:
            shown, cause = "connecting", ""
        else:
            shown, cause = "reconnecting", self.cause
        retry = None
        if self.state == CameraState.RECONNECTING and self.retry_at is not None:
            retry = round(max(0.0, self.retry_at - now), 1)
        return {"state": shown, "cause": cause, "retry_in_s": retry}

    def snapshot(self) -> dict:
        return {"state": self.state.value, "reconnects": self.reconnects, "recoveries": max(0, self.connections - 1),
                "stalls": self.stalls, "frames": self.frames,
                "failures": self.failures, "last_error": self.last_error, "cause": self.cause}
