"""What the ingest service tells the operator view: cameras seen, their state, and event images.

The ingest service calls an ``IngestObserver`` (a no-op by default) at a few points; ``LiveState``
is the real one: it keeps each camera's live state in memory and hands event images to the store.

A camera's ``state`` in the cameras list is the link's view (``live``: packets lately; ``idle``: its
edge is connected but the camera sent nothing for a while; ``offline``: its edge is not connected),
unless its connected edge reports the camera itself as ``connecting``, ``reconnecting`` or
``failed`` (edge/sources/state.py): then that is the state, and ``cause`` says why. ``camera_state``,
``cause`` and ``fps`` are always the edge's last report (empty before the first one).
"""
from __future__ import annotations

import logging
import math
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Callable

log = logging.getLogger("vigil.api")

# A camera that sent nothing for this long is shown as idle (its edge may still be connected).
IDLE_AFTER_S = 30.0
# Edge-reported camera states that the cameras list shows instead of the link's view.
TROUBLE_STATES = ("connecting", "reconnecting", "failed")
EDGE_STATES = ("connecting", "streaming", "reconnecting", "failed", "ended", "stopped")
MAX_CAUSE_CHARS = 300   # an edge's words about its camera, bounded like every other field it sends


class IngestObserver:
    """Hooks of the ingest service; the default does nothing."""

    def on_hello(self, edge_id: str, cameras: list[tuple[str, str]]) -> None:
        """An edge connected with these (camera_id, name) pairs."""

    def on_disconnect(self, edge_id: str) -> None:
        """An edge's stream ended."""

    def on_packet(self, edge_id: str, camera_id: str, size: int) -> None:
        """A fresh packet of `camera_id` was accepted."""

    def on_camera_health(self, edge_id: str, cameras: list) -> None:
        """An edge reported its cameras' states (``vigil.v1.CameraHealth`` messages)."""

    def on_event_image(self, alert_id: str, kind: str, jpeg: bytes, width: int, height: int,
                       boxes: list[dict] = ()) -> None:
        """A decodable image belonging to an alert arrived, with the edge's detections in its pixels."""


@dataclass
class CameraState:
    camera_id: str
    edge_id: str
    name: str = ""
    connected: bool = False
    last_packet: float | None = None
    packets: int = 0
    bytes: int = 0
    camera_state: str = ""      # as the edge last reported it
    cause: str = ""
    fps: float | None = None


class LiveState(IngestObserver):
    def __init__(self, store=None, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._cameras: dict[str, CameraState] = {}

    def _camera(self, edge_id: str, camera_id: str) -> CameraState:
        cam = self._cameras.get(camera_id)
        if cam is None:
            cam = self._cameras[camera_id] = CameraState(camera_id, edge_id)
        return cam

    def on_hello(self, edge_id: str, cameras: list[tuple[str, str]]) -> None:
        for camera_id, name in cameras:
            cam = self._camera(edge_id, camera_id)
            cam.name, cam.connected, cam.edge_id = name or cam.name, True, edge_id
            cam.camera_state, cam.cause, cam.fps = "", "", None    # until this session's first report

    def on_disconnect(self, edge_id: str) -> None:
        for cam in self._cameras.values():
            if cam.edge_id == edge_id:
                cam.connected = False

    def on_packet(self, edge_id: str, camera_id: str, size: int) -> None:
        cam = self._camera(edge_id, camera_id)
        cam.connected = True
        cam.last_packet = self.clock()
        cam.packets += 1
        cam.bytes += size

    def on_camera_health(self, edge_id: str, cameras: list) -> None:
        for h in cameras:
            cam = self._cameras.get(h.camera_id)
            if cam is None or cam.edge_id != edge_id or h.state not in EDGE_STATES:
                continue     # only what this edge announced in its Hello, in words we know
            fps = float(h.fps)
            cam.camera_state, cam.cause = h.state, h.cause[:MAX_CAUSE_CHARS]
            cam.fps = round(fps, 2) if math.isfinite(fps) and fps >= 0 else None     # NaN is not JSON

    def on_event_image(self, alert_id: str, kind: str, jpeg: bytes, width: int, height: int,
                       boxes: list[dict] = ()) -> None:
        if self.store is None:
            return
        try:
            self.store.add_image(alert_id, kind, jpeg, width, height, boxes)
        except sqlite3.Error:  # a full disk loses the picture, never the packet or its alert
            log.exception("event store: could not keep a %s image of alert %s", kind, alert_id)

    def state(self, cam: CameraState) -> str:
        if not cam.connected:
            return "offline"
        if cam.camera_state in TROUBLE_STATES:
            return cam.camera_state
        if cam.last_packet is None or self.clock() - cam.last_packet > IDLE_AFTER_S:
            return "idle"
        return "live"

    def cameras(self) -> list[dict]:
        return [{**asdict(c), "state": self.state(c)} for c in sorted(self._cameras.values(), key=lambda c: c.camera_id)]
