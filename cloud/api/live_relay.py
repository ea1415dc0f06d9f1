"""Relays an operator's WebRTC offer to the edge that owns the camera, and its answer back.

The cloud carries signalling only (the media flows browser <-> edge): each edge stream registers
its cameras and its outgoing queue; an offer becomes a ``LiveOffer`` on that stream, and the
request waits for the ``LiveAnswer`` with the same id (or a timeout). Errors say what to fix.
"""
from __future__ import annotations

import asyncio
import uuid

from vigil.v1 import vigil_pb2 as pb


class LiveUnavailable(LookupError):
    """No connected edge has the camera."""


class LiveRefused(ValueError):
    """The edge refused the offer (its message says why)."""


class LiveRelay:
    def __init__(self):
        self._routes: dict[str, tuple[str, asyncio.Queue]] = {}   # camera -> (edge, its outgoing queue)
        self._waiting: dict[str, asyncio.Future] = {}

    def attach(self, edge_id: str, camera_ids: list[str], out: asyncio.Queue) -> None:
        for cam in camera_ids:
            self._routes[cam] = (edge_id, out)

    def detach(self, edge_id: str, out: asyncio.Queue) -> None:
        for cam, (edge, queue) in list(self._routes.items()):
            if edge == edge_id and queue is out:
                del self._routes[cam]

    def on_answer(self, answer: pb.LiveAnswer) -> None:
        fut = self._waiting.pop(answer.request_id, None)
        if fut is not None and not fut.done():
            fut.set_result(answer)

    async def offer(self, camera_id: str, sdp: str, timeout_s: float) -> str:
        """The edge's answer SDP for `camera_id`."""
        route = self._routes.get(camera_id)
        if route is None:
            raise LiveUnavailable(f"no connected edge has camera {camera_id!r}")
        request_id = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = fut
        route[1].put_nowait(pb.CloudMessage(live_offer=pb.LiveOffer(request_id=request_id, camera_id=camera_id, sdp=sdp)))
        try:
            answer = await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise LiveUnavailable(f"edge {route[0]!r} did not answer the offer for {camera_id!r} within {timeout_s:g}s") from None
        finally:
            self._waiting.pop(request_id, None)
        if answer.error:
            raise LiveRefused(answer.error)
        return answer.sdp
