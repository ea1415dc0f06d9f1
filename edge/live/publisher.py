"""Answers a viewer's WebRTC offer with one video track of a camera (aiortc).

Signalling is a single offer/answer exchange (no trickle ICE: aiortc gathers candidates before it
answers), so it fits one request/response through the cloud. Each viewer gets its own peer
connection and track reading the camera's ``FrameTap``; when the viewer closes, fails or vanishes
(ICE times out), the connection is closed and the track released, so the camera stops keeping
frames for it. Errors a viewer can act on are ``LiveError`` with a clear message.
"""
from __future__ import annotations

import asyncio
import fractions
import logging
import time

import numpy as np

from edge.live.tap import FrameTap

log = logging.getLogger("vigil.edge.live")

VIDEO_CLOCK_HZ = 90_000      # RTP video clock rate (RFC 3551)
BLANK_SIZE = (240, 320, 3)   # shown until the camera's first watched frame arrives
ENDED_STATES = ("failed", "closed")


class LiveError(ValueError):
    """An offer that cannot be answered (unknown camera, bad SDP, too many viewers)."""


def _camera_track_class():
    from aiortc import VideoStreamTrack
    from av import VideoFrame

    class CameraTrack(VideoStreamTrack):
        """Frames of one camera at a fixed rate; repeats the latest frame when the camera is slower."""

        def __init__(self, tap: FrameTap, camera_id: str, fps: float):
            super().__init__()
            self.tap, self.camera_id, self.period = tap, camera_id, 1.0 / fps
            self._start: float | None = None
            self._n = 0

        async def recv(self):
            if self._start is None:
                self._start = time.monotonic()
            self._n += 1
            wait = self._start + self._n * self.period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            image = self.tap.latest(self.camera_id)
            if image is None:
                image = np.zeros(BLANK_SIZE, np.uint8)
            if image.shape[0] % 2 or image.shape[1] % 2:  # yuv420p needs even sizes
                image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
            frame = VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts = int(self._n * self.period * VIDEO_CLOCK_HZ)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_HZ)
            return frame

    return CameraTrack


class LivePublisher:
    def __init__(self, tap: FrameTap, *, fps: float = 10.0, max_viewers_per_camera: int = 4):
        self.tap = tap
        self.fps = fps
        self.max_viewers = max_viewers_per_camera
        self._pcs: dict[object, str] = {}   # peer connection -> camera id

    def viewers(self, camera_id: str | None = None) -> int:
        return sum(1 for c in self._pcs.values() if camera_id is None or c == camera_id)

    async def answer(self, camera_id: str, sdp: str, kind: str = "offer") -> tuple[str, str]:
        """The answer SDP (and its type) to a viewer's offer for `camera_id`."""
        from aiortc import RTCPeerConnection, RTCSessionDescription
        if camera_id not in self.tap.cameras():
            raise LiveError(f"unknown camera {camera_id!r}; this edge has {sorted(self.tap.cameras())}")
        if kind != "offer":
            raise LiveError(f"expected an SDP offer, got type {kind!r}")
        if "m=video" not in sdp:
            raise LiveError("the offer has no video media section (m=video); add a recvonly video transceiver")
        if self.viewers(camera_id) >= self.max_viewers:
            raise LiveError(f"camera {camera_id!r} already has {self.max_viewers} viewers")
        pc = RTCPeerConnection()
        track = _camera_track_class()(self.tap, camera_id, self.fps)
        self._pcs[pc] = camera_id
        self.tap.watch(camera_id)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ENDED_STATES:
                await self._release(pc)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            pc.addTrack(track)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError and others on malformed SDP
            await self._release(pc)
            raise LiveError(f"bad SDP offer: {exc}") from exc
        log.info("live view of %s started (%d viewers)", camera_id, self.viewers(camera_id))
        return pc.localDescription.sdp, pc.localDescription.type

    async def _release(self, pc) -> None:
        camera_id = self._pcs.pop(pc, None)
        if camera_id is None:
            return
        self.tap.unwatch(camera_id)
        await pc.close()
        log.info("live view of %s ended (%d viewers left)", camera_id, self.viewers(camera_id))

    async def answer_offer(self, offer):
        """A ``LiveAnswer`` for a ``LiveOffer`` relayed by the cloud (errors go back in its ``error``)."""
        from vigil.v1 import vigil_pb2 as pb
        try:
            sdp, _ = await self.answer(offer.camera_id, offer.sdp)
        except LiveError as exc:
            return pb.LiveAnswer(request_id=offer.request_id, camera_id=offer.camera_id, error=str(exc))
        return pb.LiveAnswer(request_id=offer.request_id, camera_id=offer.camera_id, sdp=sdp)

    async def close(self) -> None:
        for pc in list(self._pcs):
            await self._release(pc)
