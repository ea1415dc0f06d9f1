"""What the edge says about itself while it runs: a periodic status line per camera and /healthz.

Frigate users read the camera's fps and detection counts off its UI; a headless agent
has to say the same in its log. Every ``status_interval_s`` the agent logs one line
per camera — camera state (and why, when it is not streaming), frames/s read over the last
``FPS_WINDOW_S``, frames gated and packets
sent so far — ending with the link's numbers, which the agent's cameras share: the
transmission policy's rate estimate (DAT plans with it; FIFO has none), items queued,
and packets spooled to disk while the cloud is unreachable. The same snapshot is the body of
the health endpoint (edge/health.py) and of what the cloud is told. Pure: counters in, text and
dicts out (``FrameRate`` takes the clock from its caller).

A camera's ``state`` is what an operator is shown (edge/sources/state.py ``health``):
``connecting``, ``streaming``, ``reconnecting`` or ``failed`` (both with a ``cause``), ``ended``.
The agent as a whole (``status``):

- ``ok``: every camera streams (or its file ended cleanly); ``healthy`` is true only then;
- ``degraded``: some camera streams, another is connecting, reconnecting or failed;
- ``down``: no camera streams (or there is none).

/healthz answers 200 for ok and degraded (the process works and watches what it can), 503 for down;
a monitor that must page on one lost camera reads ``healthy`` or each camera's ``state``.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

BITS_PER_BYTE = 8
WORKING_STATES = ("streaming", "ended")     # delivering frames, or a file that finished cleanly
# fps is the frames read in this trailing window: long enough to smooth a 1-5 fps processing rate,
# short enough that a camera that stops shows 0 within seconds.
FPS_WINDOW_S = 5.0
MAX_TICKS = 10_000      # per camera: a file read flat out must not grow the window without bound


@dataclass
class CameraStatus:
    camera_id: str
    state: str
    fps: float
    frames_read: int
    gated: int
    sent: int
    cause: str = ""                  # why it is not streaming (empty while it is)
    retry_in_s: float | None = None  # the next attempt, while reconnecting or failed


@dataclass
class LinkStatus:
    connected: bool
    rate_bps: float | None          # bits/s the policy plans with; None when the policy keeps no estimate
    queued: int
    spooled: int


@dataclass
class AgentStatus:
    cameras: list[CameraStatus] = field(default_factory=list)
    link: LinkStatus | None = None

    @property
    def status(self) -> str:
        """``ok`` | ``degraded`` | ``down`` (module docstring)."""
        working = sum(c.state in WORKING_STATES for c in self.cameras)
        if self.cameras and working == len(self.cameras):
            return "ok"
        return "degraded" if working else "down"

    @property
    def healthy(self) -> bool:
        """Every camera streaming (or cleanly ended): false while any camera reconnects or failed."""
        return self.status == "ok"

    def as_dict(self) -> dict:
        return {"healthy": self.healthy, "status": self.status, "cameras": [vars(c) for c in self.cameras],
                "link": vars(self.link) if self.link else None}


def format_rate(bps: float | None) -> str:
    if bps is None:
        return "n/a"
    for unit, scale in (("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.1f} {unit}"
    return f"{bps:.0f} bit/s"


def status_lines(status: AgentStatus) -> list[str]:
    """One line per camera; the link's numbers (shared by the agent's cameras) close each line."""
    link = ""
    if status.link is not None:
        ln = status.link
        link = (f" | link {'up' if ln.connected else 'down'}, estimate {format_rate(ln.rate_bps)}, "
                f"queued {ln.queued}, spooled {ln.spooled}")
    return [f"camera {c.camera_id}: {c.state}{f' ({c.cause})' if c.cause else ''}, {c.fps:.1f} fps, "
            f"gated {c.gated}/{c.frames_read}, sent {c.sent}{link}" for c in status.cameras]


class FrameRate:
    """Frames/s per camera over the last ``window_s``, the same whoever asks and however often.

    (The health endpoint, the status line and the cloud each read it on their own clocks; a meter
    that measured between two of its own calls answered 0.0 to all but one of them.)
    Camera threads ``tick``; readers call ``fps``; both pass ``now`` (monotonic seconds).
    """

    def __init__(self, window_s: float = FPS_WINDOW_S):
        self.window_s = window_s
        self._ticks: dict[str, deque[float]] = {}
        self._first: dict[str, float] = {}
        self._lock = threading.Lock()

    def tick(self, camera_id: str, now: float) -> None:
        with self._lock:
            q = self._ticks.get(camera_id)
            if q is None:
                q = self._ticks[camera_id] = deque(maxlen=MAX_TICKS)
                self._first[camera_id] = now
            q.append(now)

    def fps(self, camera_id: str, now: float) -> float:
        with self._lock:
            q = self._ticks.get(camera_id)
            if not q:
                return 0.0
            while q and q[0] <= now - self.window_s:
                q.popleft()
            # A camera that started less than a window ago is measured over the time it has had.
            span = min(self.window_s, now - self._first[camera_id])
            return len(q) / span if span > 0 else 0.0
