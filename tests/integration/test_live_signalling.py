"""Live-view signalling through the cloud API to a real edge: errors a viewer can act on."""
import asyncio

import httpx

from tests.helpers.operator_system import TOKEN, System

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _offer():
    from aiortc import RTCPeerConnection
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def test_offer_errors_and_an_answer():
    offer = asyncio.run(_offer())
    with System() as system:
        base = f"http://127.0.0.1:{system.api_port}/api/v1/cameras"
        with httpx.Client(timeout=15) as http:
            assert http.post(f"{base}/cam-1/webrtc", json={"sdp": offer, "type": "offer"}).status_code == 401
            r = http.post(f"{base}/nope/webrtc", headers=AUTH, json={"sdp": offer, "type": "offer"})
            assert r.status_code == 404 and "no connected edge has camera 'nope'" in r.json()["error"]
            r = http.post(f"{base}/cam-1/webrtc", headers=AUTH, json={"sdp": "v=0\r\n", "type": "offer"})
            assert r.status_code == 400 and "no video media section" in r.json()["error"]
            r = http.post(f"{base}/cam-1/webrtc", headers=AUTH, content=b"not json")
            assert r.status_code == 400
            r = http.post(f"{base}/cam-1/webrtc", headers=AUTH, json={"sdp": offer, "type": "offer"})
            assert r.status_code == 200 and r.json()["type"] == "answer" and "m=video" in r.json()["sdp"]
        assert system.agent.live.viewers("cam-1") == 1   # until ICE gives up on the vanished viewer
