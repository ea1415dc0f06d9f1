"""The no-motion baseline gate: the detector on a fixed schedule, the cascade's hold in between."""
import numpy as np

from edge.detection import Detection
from edge.frame import Frame
from edge.gate import GateConfig
from edge.gate.base import DetectorStage
from edge.gate.interval import IntervalGate, interval_frames
from edge.sources import CameraConfig


class ScriptedDetector(DetectorStage):
    """Finds a person on the frames whose call number is in `hits`; counts its calls."""
    name = "scripted"
    labels = frozenset({"person"})

    def __init__(self, hits):
        self.hits, self.calls = set(hits), 0

    def detect(self, image, regions=None):
        self.calls += 1
        return [Detection(10, 10, 60, 120, "person", 0.9)] if self.calls - 1 in self.hits else []


def test_interval_rounds_up_to_whole_frames():
    assert interval_frames(0.7, 5.0) == 4 and interval_frames(0.0, 5.0) == 1 and interval_frames(0.4, 5.0) == 2


def test_detector_runs_every_nth_frame_and_hold_bridges_the_gap():
    det = ScriptedDetector(hits={0})                  # the first run finds a person, later runs do not
    gate = IntervalGate(GateConfig(detect_interval_s=0.6, hold_s=1.0), CameraConfig(id="c", url=""), 5.0,
                        detector=det)
    img = np.zeros((144, 176, 3), np.uint8)
    res = [gate.process(Frame("c", i, i * 0.2, img)) for i in range(10)]
    assert [r.detector_ran for r in res] == [i % 3 == 0 for i in range(10)] and det.calls == 4
    assert [r.passed for r in res] == [True] * 6 + [False] * 4     # within 1.0 s of the hit at t=0
    assert [r.reason for r in res[:4]] == ["detected", "held", "held", "held"]
    assert res[1].detections and res[6].reason == "nothing-detected" and res[7].reason == "interval-skip"
