"""What the edge says about itself while it runs: a periodic status line per camera and /healthz.

Frigate users read the camera's fps and detection counts off its UI; a headless agent
has to say the same in its log. Every ``status_interval_s`` the agent logs one line
per camera — camera state, frames/s read over the interval, frames gated and packets
sent so far — ending with the link's numbers, which the agent's cameras share: the
transmission policy's rate estimate (DAT plans with it; FIFO has none), items queued,
and packets spooled to disk while the cloud is unreachable. The same snapshot is the body of
the health endpoint (edge/health.py). Pure: counters in, text and dicts out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

BITS_PER_BYTE = 8
HEALTHY_STATES = ("connecting", "streaming", "stalled", "reconnecting", "ended")   # alive or finished cleanly


@dataclass
class CameraStatus:
    camera_id: str
    state: str
    fps: float
    frames_read: int
    gated: int
    sent: int


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
    def healthy(self) -> bool:
        """At least one camera alive or cleanly ended, and none failed for good."""
        return bool(self.cameras) and all(c.state in HEALTHY_STATES for c in self.cameras)

    def as_dict(self) -> dict:
        return {"healthy": self.healthy, "cameras": [vars(c) for c in self.cameras],
                "link": vars(self.link) if self.link else None}


def fps_between(frames_now: int, frames_before: int, seconds: float) -> float:
    return (frames_now - frames_before) / seconds if seconds > 0 else 0.0


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
    return [f"camera {c.camera_id}: {c.state}, {c.fps:.1f} fps, gated {c.gated}/{c.frames_read}, sent {c.sent}{link}"
            for c in status.cameras]


class FpsMeter:
    """Frames/s per camera between two consecutive calls (the status interval)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, float]] = {}

    def update(self, camera_id: str, frames: int, now: float) -> float:
        before = self._last.get(camera_id)
        self._last[camera_id] = (frames, now)
        if before is None:
            return 0.0
        return fps_between(frames, before[0], now - before[1])
