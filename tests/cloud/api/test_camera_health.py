"""The operator's camera list shows what the edge says about each camera (pure: no sockets)."""
from cloud.api.live import MAX_CAUSE_CHARS, LiveState
from vigil.v1 import vigil_pb2 as pb


def test_an_edges_camera_report_reaches_the_camera_list():
    now = [1000.0]
    live = LiveState(clock=lambda: now[0])
    live.on_hello("edge-a", [("door", "Front door"), ("yard", "Yard")])
    live.on_packet("edge-a", "door", 100)
    live.on_camera_health("edge-a", [
        pb.CameraHealth(camera_id="door", state="streaming", fps=5.0),
        pb.CameraHealth(camera_id="yard", state="failed", cause="connection refused by 10.0.0.5:554"),
        pb.CameraHealth(camera_id="other-edges-cam", state="failed", cause="x"),     # not announced: ignored
        pb.CameraHealth(camera_id="door", state="on fire")])                         # unknown word: ignored
    cams = {c["camera_id"]: c for c in live.cameras()}
    assert set(cams) == {"door", "yard"}
    assert (cams["door"]["state"], cams["door"]["camera_state"], cams["door"]["fps"]) == ("live", "streaming", 5.0)
    assert (cams["yard"]["state"], cams["yard"]["cause"]) == ("failed", "connection refused by 10.0.0.5:554")

    live.on_camera_health("edge-b", [pb.CameraHealth(camera_id="door", state="failed", cause="spoof")])
    assert {c["camera_id"]: c for c in live.cameras()}["door"]["state"] == "live"     # another edge's camera

    live.on_camera_health("edge-a", [pb.CameraHealth(camera_id="yard", state="reconnecting", cause="x" * 5000)])
    assert len({c["camera_id"]: c for c in live.cameras()}["yard"]["cause"]) == MAX_CAUSE_CHARS
    live.on_camera_health("edge-a", [pb.CameraHealth(camera_id="door", state="streaming", fps=float("nan"))])
    assert {c["camera_id"]: c for c in live.cameras()}["door"]["fps"] is None
    live.on_disconnect("edge-a")
    assert {c["state"] for c in live.cameras()} == {"offline"}
    live.on_hello("edge-a", [("yard", "Yard")])          # a new session forgets the old report until the next one
    assert {c["camera_id"]: c for c in live.cameras()}["yard"]["camera_state"] == ""
