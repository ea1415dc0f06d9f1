"""One camera = one worker: a reader thread that owns the source, a supervisor that watches it.

Why two threads per camera: OpenCV's ``read()`` can block inside FFmpeg (a camera
that keeps the TCP connection open but stops sending). The supervisor notices by
timeout (``CameraStateMachine.check``), abandons that reader — it bumps a
generation number, so whatever the stuck thread returns later is discarded — and
schedules a fresh connection with backoff. One stuck camera therefore never
blocks another camera or the agent.

Frame hand-over (``FrameSlot``):
- live sources (and files paced in real time): *latest-frame semantics*. The
  reader drains the stream as fast as it arrives, the slot keeps only the newest
  frame, and ``get()`` hands out at most ``fps`` frames per second; frames the
  processing could not take in time are counted as dropped, never queued.
- files read as fast as possible: a hand-over with back-pressure, so every
  sampled frame is processed exactly once (benchmarks and tests are repeatable).

The log says each cause once: the first failed attempt is a WARNING naming it, the attempt that
makes the camera "failed" (``failed_after`` in a row) an ERROR, and further attempts that fail the
same way are DEBUG, so a camera that stays down for a day does not write a line every 30 s.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, Iterator

from edge.frame import Frame
from edge.sources.base import FrameSource, SourceError
from edge.sources.config import CameraConfig
from edge.sources.opencv import open_source
from edge.sources.probe import PROBE_STEP_TIMEOUT_S, PROBE_STEPS
from edge.sources.state import CameraState, CameraStateMachine
from vigil.redact import redact

log = logging.getLogger(__name__)

# Supervisor tick: how often the read timeout and retry timers are looked at (seconds).
_TICK_S = 0.05


class FrameSlot:
    """Latest-frame slot (``keep_all=False``) or a one-place hand-over with back-pressure."""

    def __init__(self, keep_all: bool, min_interval_s: float = 0.0):
        self.keep_all = keep_all
        self.min_interval_s = min_interval_s
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self._last_get = -1e18
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: Frame, cancelled: Callable[[], bool] = lambda: False) -> None:
        with self._cond:
            if self.keep_all:
                while self._frame is not None and not self._closed and not cancelled():
                    self._cond.wait(0.1)
            elif self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def discard(self) -> None:
        """Drop a frame not yet taken: its connection failed, and a frame from before an outage handed out
        during it (or after it) would be stale."""
        with self._cond:
            if self._frame is not None:
                self._frame = None
                self.dropped += 1
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._closed and self._frame is None

    def get(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            wait_until = self._last_get + self.min_interval_s
            while True:
                now = time.monotonic()
                ready = self._frame is not None and now >= wait_until
                if ready:
                    break
                if self._closed and self._frame is None:
                    return None
                left = None if deadline is None else deadline - now
                if left is not None and left <= 0:
                    return None
                pace = wait_until - now if self._frame is not None else None
                step = min(x for x in (left, pace, 0.5) if x is not None and x > 0) if (left or pace) else 0.5
                self._cond.wait(step)
            frame, self._frame = self._frame, None
            self._last_get = time.monotonic()
            self.delivered += 1
            self._cond.notify_all()
            return frame


class CameraWorker:
    def __init__(self, cfg: CameraConfig, source_factory: Callable[[CameraConfig], FrameSource] | None = None,
                 rng: random.Random | None = None):
        self.cfg = cfg
        self._factory = source_factory or open_source
        self.machine = CameraStateMachine(cfg.reconnect, rng or random.Random())
        if cfg.is_live:    # a failed open is diagnosed (edge/sources/probe.py) before it is reported
            self.machine.open_grace_s = PROBE_STEP_TIMEOUT_S * PROBE_STEPS
        paced = cfg.paced
        self.slot = FrameSlot(keep_all=not paced, min_interval_s=(1.0 / cfg.fps) if paced else 0.0)
        self._watch = paced            # a file read flat out waits on back-pressure, which is not a stall
        self._lock = threading.Lock()
        self._gen = 0
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.readers_started = 0
        self._logged = 0
        self._logged_cause = ""

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "CameraWorker":
        self._supervisor = threading.Thread(target=self._supervise, name=f"cam-{self.cfg.id}-supervisor", daemon=True)
        with self._lock:
            self.machine.begin(time.monotonic())
            self._spawn_reader()
        self._supervisor.start()
        return self

    def stop(self, join_s: float = 2.0) -> None:
        self._stop.set()
        with self._lock:
            self._gen += 1
            self.machine.stop(time.monotonic())
        self.slot.close()
        if self._supervisor is not None:
            self._supervisor.join(join_s)

    def __enter__(self) -> "CameraWorker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- consumer side ---------------------------------------------------------
    def get(self, timeout: float | None = None) -> Frame | None:
        """The next frame to process, or None on timeout / when the camera is finished."""
        return self.slot.get(timeout)

    @property
    def finished(self) -> bool:
        return self.slot.finished

    def frames(self, stop: threading.Event | None = None, poll_s: float = 0.5) -> Iterator[Frame]:
        while not (stop is not None and stop.is_set()):
            frame = self.get(poll_s)
            if frame is not None:
                yield frame
            elif self.finished:
                return

    @property
    def state(self) -> CameraState:
        return self.machine.state

    def snapshot(self) -> dict:
        """The state machine's counters, plus what an operator is shown: ``health`` (state, cause, retry_in_s)."""
        with self._lock:
            snap = self.machine.snapshot()
            snap["health"] = self.machine.health(time.monotonic())
        snap.update(camera_id=self.cfg.id, frames_dropped=self.slot.dropped, frames_delivered=self.slot.delivered)
        return snap

    # -- internals -------------------------------------------------------------
    def _log_transition(self) -> None:   # caller holds the lock
        m = self.machine
        new = min(m.transitions - self._logged, len(m.history))
        for tr in m.history[len(m.history) - new:] if new > 0 else []:
            lvl = self._level(tr.new)
            extra = f" (retry in {m.retry_at - tr.at:.1f} s)" if tr.new == CameraState.RECONNECTING and m.retry_at else ""
            if lvl == logging.ERROR and tr.new == CameraState.RECONNECTING:
                extra = (f"; shown as failed after {m.failures} attempts in a row, still retried "
                         f"(at most every {m.cfg.backoff_max_s:g} s)")
            log.log(lvl, "camera %s: %s -> %s: %s%s [reconnects=%d]", self.cfg.id, tr.old.value, tr.new.value,
                    tr.why, extra, m.reconnects)
        self._logged = m.transitions

    def _level(self, new: CameraState) -> int:   # caller holds the lock
        """How loud one transition is: each cause once, then quiet until it changes or the camera is back."""
        m = self.machine
        if new == CameraState.FAILED:
            return logging.ERROR
        if new in (CameraState.ENDED, CameraState.STOPPED):
            return logging.INFO
        if new == CameraState.STREAMING:
            self._logged_cause = ""
            return logging.INFO
        if new == CameraState.CONNECTING:       # a scheduled retry: the failure before it was said already
            return logging.DEBUG if m.failures else logging.INFO
        if new == CameraState.RECONNECTING:
            if m.failures == m.cfg.failed_after:
                self._logged_cause = m.cause
                return logging.ERROR
            if m.cause == self._logged_cause:
                return logging.DEBUG
            self._logged_cause = m.cause
        return logging.WARNING

    def _spawn_reader(self) -> None:        # caller holds the lock
        self._gen += 1
        gen = self._gen
        self.readers_started += 1
        threading.Thread(target=self._read_loop, args=(gen,), name=f"cam-{self.cfg.id}-reader-{gen}", daemon=True).start()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                if self.machine.done:
                    return
                if self._watch or self.machine.state == CameraState.CONNECTING:
                    if self.machine.check(now):
                        self._gen += 1           # abandon the stuck reader
                        if self.cfg.is_live:
                            self.slot.discard()
                if self.machine.should_retry(now):
                    self.machine.retrying(now)
                    self._spawn_reader()
                self._log_transition()
            self._stop.wait(_TICK_S)

    def _current(self, gen: int) -> bool:
        return gen == self._gen and not self._stop.is_set()

    def _failed(self, gen: int, final: bool, error: str, retry: Callable[[float, str], None]) -> None:
        """Reader `gen` failed: for good (a file that cannot be read), or `retry` (reconnect with backoff)."""
        with self._lock:
            if not self._current(gen):
                return
            if final:
                self.machine.failed(time.monotonic(), error)
                self.slot.close()
            else:
                retry(time.monotonic(), error)
                if self.cfg.is_live:
                    self.slot.discard()
            self._log_transition()

    def _read_loop(self, gen: int) -> None:
        source: FrameSource | None = None
        try:
            try:
                source = self._factory(self.cfg)
                source.open()
            except Exception as exc:  # noqa: BLE001 - any open failure is a reason to back off and retry
                if isinstance(exc, SourceError):    # a missing file may yet appear (a mount); one that will not decode won't
                    final, reason = exc.final, exc.reason
                else:
                    final, reason = self.cfg.source_kind == "file", f"{type(exc).__name__}: {exc}"
                self._failed(gen, final, redact(reason), self.machine.open_failed)
                return
            with self._lock:
                if not self._current(gen):
                    return
                self.machine.opened(time.monotonic())
                self._log_transition()
            while self._current(gen):
                try:
                    frame = source.read()
                except Exception as exc:  # noqa: BLE001 - SourceError, or cv2.error from a broken decoder
                    final = self.cfg.source_kind == "file" and not isinstance(exc, SourceError)
                    reason = exc.reason if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
                    self._failed(gen, final, redact(reason), self.machine.read_failed)
                    return
                with self._lock:
                    if not self._current(gen):
                        return
                    if frame is None:
                        self.machine.ended(time.monotonic())
                        self._log_transition()
                        self.slot.close()
                        return
                    self.machine.frame(time.monotonic())
                    frame.meta["connection"] = gen
                self.slot.put(frame, cancelled=lambda: not self._current(gen))
        finally:
            if source is not None:
                try:
                    source.close()
                except Exception:  # noqa: BLE001 - closing a broken capture must not kill the worker
                    log.debug("camera %s: close failed", self.cfg.id, exc_info=True)
