"""The whole edge half on a real clip: sources -> gate -> events, as the agent runs it."""
from collections import defaultdict

from edge.events import EventsConfig, EventTracker, semantic_hints
from edge.gate import GateCascade, GateConfig
from edge.sources import CameraConfig, open_source
from vigil.footage import clip_path
from vigil.v1 import vigil_pb2


def test_carphone_gives_one_person_event_with_a_key_frame_and_hints():
    cam = CameraConfig(id="car", name="In-car camera", url=str(clip_path("carphone_pristine.mp4")), fps=5)
    gate = GateCascade(GateConfig(detector="hog"), cam)
    events = EventTracker(EventsConfig(), cam)
    updates = []
    last = None
    for frame in open_source(cam):
        updates += events.update(frame, gate.process(frame))
        last = frame
    updates += events.flush(last.capture_time)

    by_id = defaultdict(list)
    for u in updates:
        by_id[u.event.event_id].append(u.stage)
    assert by_id, "a man talks in the car for 4 s: there must be an event"
    for stages in by_id.values():                  # every event opens once and ends once
        assert stages[0] == "new" and stages[-1] == "end" and stages.count("new") == 1 and stages.count("end") == 1
    end = [u for u in updates if u.stage == "end"][0]
    assert end.frame is not None and end.detections
    assert end.event.labels == {"person": 1} and end.event.dwell_seconds > 0
    hints = vigil_pb2.SemanticHints(**semantic_hints(end.event))
    assert hints.camera_name == "In-car camera" and hints.event_stage == "end"
