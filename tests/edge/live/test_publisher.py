"""The live view publisher against a real aiortc viewer on loopback."""
import asyncio

import numpy as np
import pytest

from edge.live.publisher import LiveError, LivePublisher
from edge.live.tap import FrameTap


async def _viewer():
    from aiortc import RTCPeerConnection
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


def test_viewer_receives_frames_with_boxes_and_vanishing_frees_the_track():
    async def go():
        from aiortc import RTCSessionDescription
        tap = FrameTap(["cam-1"])
        pub = LivePublisher(tap, fps=15)
        viewer = await _viewer()
        got = asyncio.get_running_loop().create_future()

        @viewer.on("track")
        def on_track(track):
            async def read():
                frame = await track.recv()
                for _ in range(5):
                    frame = await track.recv()
                got.set_result(frame.to_ndarray(format="bgr24"))
            asyncio.ensure_future(read())

        sdp, kind = await pub.answer("cam-1", viewer.localDescription.sdp)
        assert tap.watchers("cam-1") == 1
        feeding = True

        async def feed():
            while feeding:
                tap.put("cam-1", np.full((120, 160, 3), 60, np.uint8), [(20, 20, 80, 80, "person")])
                await asyncio.sleep(0.05)
        feeder = asyncio.ensure_future(feed())
        await viewer.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        image = await asyncio.wait_for(got, 20)
        feeding = False
        await feeder
        assert image.shape[:2] == (120, 160)
        assert image[20, 50].astype(int).sum() > image[100, 140].astype(int).sum() + 100  # the box edge is drawn
        await viewer.close()          # the viewer goes away
        for _ in range(100):
            if pub.viewers("cam-1") == 0:
                break
            await asyncio.sleep(0.1)
        assert pub.viewers("cam-1") == 0 and tap.watchers("cam-1") == 0 and tap.latest("cam-1") is None
        await pub.close()

    asyncio.run(go())


def test_unknown_camera_and_bad_sdp_get_clear_errors():
    async def go():
        pub = LivePublisher(FrameTap(["cam-1"]))
        viewer = await _viewer()
        with pytest.raises(LiveError, match="unknown camera 'nope'"):
            await pub.answer("nope", viewer.localDescription.sdp)
        with pytest.raises(LiveError, match="no video media section"):
            await pub.answer("cam-1", "v=0\r\nthis is not sdp\r\n")
        with pytest.raises(LiveError, match="bad SDP offer"):
            await pub.answer("cam-1", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\ngarbage\r\n")
        assert pub.viewers() == 0 and pub.tap.watchers("cam-1") == 0
        await viewer.close()

    asyncio.run(go())


def test_unwatched_camera_keeps_no_frames():
    tap = FrameTap(["cam-1"])
    tap.put("cam-1", np.zeros((4, 4, 3), np.uint8), [])
    assert tap.latest("cam-1") is None
