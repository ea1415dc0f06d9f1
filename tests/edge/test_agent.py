"""The agent keeps serving its good cameras while another camera is dead (real gRPC, fake model)."""
import asyncio

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from tests.helpers import cloud_fakes as fakes


def test_dead_camera_does_not_block_the_live_one():
    async def go():
        sink = fakes.Collect()
        svc = CloudService(load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0}, "alerts": {"outbox_path": None},
            "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}}),
            engine=fakes.FakeEngine(), sinks=[sink])
        port = await svc.start()
        cfg = load_edge_config(environ={}, overrides={
            "cameras": [{"id": "good", "url": "sample:bikes.mp4", "fps": 5},
                        # nothing listens on port 9: the camera keeps reconnecting with backoff
                        {"id": "dead", "url": "http://127.0.0.1:9/video.mjpg",
                         "reconnect": {"open_timeout_s": 0.5, "backoff_initial_s": 0.1, "backoff_max_s": 0.3}}],
            "cloud": {"target": f"127.0.0.1:{port}", "results_grace_s": 10}})
        agent = EdgeAgent(cfg)
        run = asyncio.create_task(agent.run())
        for _ in range(600):
            await asyncio.sleep(0.1)
            if agent.stats["frames_read"] >= 50 and agent.client.stats["results"] >= 1 \
                    and not agent.client.awaiting_results:
                break
        status = {s["camera_id"]: s for s in agent.camera_status()}
        agent.stop()
        summary = await asyncio.wait_for(run, 30)
        await svc.drain(5)
        await svc.stop()
        return summary, status, sink.alerts

    summary, status, alerts = asyncio.run(go())
    assert summary.frames_read >= 50 and summary.descriptions >= 1
    assert {a.stage for a in alerts} == {"detected", "described"}
    assert status["dead"]["reconnects"] >= 1 and status["dead"]["state"] != "streaming"


def test_end_of_event_is_handed_to_the_policy():
    import numpy as np

    from edge.detection import Detection
    from edge.events.event import Event, EventUpdate
    from edge.frame import Frame

    class Loop:  # stands in for the asyncio loop: run the hand-over at once
        def call_soon_threadsafe(self, fn, *args):
            fn(*args)

    agent = EdgeAgent(load_edge_config(environ={}, overrides={"transmit": {"policy": "fifo"}}))
    frame = Frame("cam-1", 0, 1.0, np.zeros((48, 64, 3), np.uint8))
    event = Event(event_id="ev", camera_id="cam-1", camera_name="door", onset=1.0, rule="object", severity=0.5,
                  stage="end")
    box = [Detection(1, 1, 20, 40, "person", 0.9, 1)]
    agent._hand_over(EventUpdate(event, "end", frame, box), Loop())
    agent._hand_over(EventUpdate(event, "update", frame, []), Loop())       # nothing to show
    agent._hand_over(EventUpdate(event, "end", None, []), Loop())           # no frame
    pkt = agent.policy.next_packet(2.0)
    assert pkt is not None and pkt.event_id == "ev" and pkt.hints.event_stage == "end"
    assert agent.policy.pending() == 0


def test_a_missing_camera_runs_beside_a_good_one_and_is_shown_failed_until_its_file_appears(tmp_path):
    """One missing file and one refused RTSP camera beside a real file source: the good camera streams and
    sends, the bad ones are retried and shown failed with their cause in /healthz and in the cloud's camera
    list; when the missing file appears, that camera streams without a restart."""
    import json
    import shutil
    import urllib.error
    import urllib.request

    import httpx

    from tests.helpers import free_port
    from vigil.footage import clip_path

    missing = tmp_path / "mount" / "door.mp4"
    closed = free_port()
    health_port = free_port()
    fast = {"open_timeout_s": 2.0, "backoff_initial_s": 0.1, "backoff_max_s": 0.4, "jitter": 0.0, "failed_after": 2}

    def healthz():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            return None, None

    async def go():
        svc = CloudService(load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0}, "alerts": {"outbox_path": None},
            "api": {"host": "127.0.0.1", "port": 0, "tokens": ["op-token"]}, "store": {"path": None}}),
            engine=fakes.FakeEngine(), sinks=[fakes.Collect()])
        port = await svc.start()
        cfg = load_edge_config(environ={}, overrides={
            "cameras": [{"id": "good", "url": "sample:bikes.mp4", "fps": 5, "loop": True, "realtime": True},
                        {"id": "door", "url": str(missing), "fps": 5, "loop": True, "realtime": True, "reconnect": fast},
                        {"id": "yard", "url": f"rtsp://127.0.0.1:{closed}/stream1", "reconnect": fast}],
            "cloud": {"target": f"127.0.0.1:{port}"}, "health_port": health_port, "status_interval_s": 0})
        agent = EdgeAgent(cfg)                     # not refused: one camera works
        run = asyncio.create_task(agent.run())
        api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.api.port}",
                                headers={"Authorization": "Bearer op-token"}, timeout=5)
        seen = {}

        async def until(pred, timeout):
            for _ in range(int(timeout / 0.2)):
                if await pred():
                    return True
                await asyncio.sleep(0.2)
            return False

        async def degraded():
            seen["health"] = await asyncio.to_thread(healthz)
            seen["api"] = {c["camera_id"]: c for c in (await api.get("/api/v1/cameras")).json()["cameras"]}
            code, body = seen["health"]
            cams = {c["camera_id"]: c for c in body["cameras"]} if body else {}
            return (code == 200 and cams["good"]["state"] == "streaming" and cams["good"]["fps"] > 0
                    and cams["door"]["state"] == "failed" and cams["yard"]["state"] == "failed"
                    and seen["api"].get("door", {}).get("state") == "failed"
                    and seen["api"].get("yard", {}).get("state") == "failed")

        try:
            ok_degraded = await until(degraded, 60)
            during = dict(seen)
            missing.parent.mkdir()
            shutil.copy(clip_path("bikes.mp4"), missing)     # the mount comes up late

            async def door_back():
                code, body = await asyncio.to_thread(healthz)
                return body is not None and {c["camera_id"]: c for c in body["cameras"]}["door"]["state"] == "streaming"
            ok_back = await until(door_back, 30)
            sent_good = agent.client.stats.get("sent:good", 0) + agent.stats.get("frames_read:good", 0)
        finally:
            agent.stop()
            await asyncio.wait_for(run, 30)
            await api.aclose()
            await svc.stop()
        return ok_degraded, during, ok_back, sent_good

    ok_degraded, during, ok_back, sent_good = asyncio.run(go())
    code, body = during["health"]
    assert ok_degraded, during
    cams = {c["camera_id"]: c for c in body["cameras"]}
    assert body["status"] == "degraded" and body["healthy"] is False
    assert cams["door"]["cause"] == f"video file not found: {missing}"
    assert cams["yard"]["cause"].startswith(f"connection refused by 127.0.0.1:{closed}")
    assert during["api"]["door"]["cause"] == f"video file not found: {missing}"
    assert during["api"]["good"]["camera_state"] == "streaming" and during["api"]["good"]["fps"] > 0
    assert ok_back and sent_good > 0


def test_a_camera_list_that_cannot_work_at_all_is_still_refused(tmp_path):
    import pytest

    from edge.agent import check_cameras
    from edge.sources import CameraConfig, SourceError
    from vigil.footage import clip_path

    gone = [CameraConfig(id="a", url=str(tmp_path / "a.mp4")), CameraConfig(id="b", url=str(tmp_path / "b.mp4"))]
    with pytest.raises(SourceError, match=r"camera a: video file not found: .*a.mp4; camera b: video file not found"):
        check_cameras(gone)
    with pytest.raises(SourceError, match="no enabled camera"):
        check_cameras([])
    check_cameras([*gone, CameraConfig(id="c", url=str(clip_path("bikes.mp4")))])     # one works: run
    check_cameras([*gone, CameraConfig(id="d", url="rtsp://camera.invalid/s")])       # a stream may come up
