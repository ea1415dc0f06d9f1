"""Detect resolution (Frigate's detect width): large frames are searched small, boxes come back in source pixels."""
import numpy as np

from edge.detection import Detection
from edge.frame import Frame
from edge.gate import DetectorStage, GateCascade, GateConfig
from edge.gate.resolution import to_detect_size
from edge.sources import CameraConfig


class CentreFinder(DetectorStage):
    """Finds a 'person' in the middle quarter of whatever image it is given; records the sizes it saw."""
    name = "centre"
    labels = frozenset({"person"})

    def __init__(self):
        self.seen: list[tuple[int, int]] = []

    def detect(self, image, regions=None):
        h, w = image.shape[:2]
        self.seen.append((w, h))
        return [Detection(w * 0.375, h * 0.25, w * 0.625, h * 0.75, "person", 0.9)]


def cascade(detect_width):
    finder = CentreFinder()
    c = GateCascade(GateConfig(detect_width=detect_width), CameraConfig(id="t", url=""), detector=finder)
    return c, finder


def test_a_720p_frame_is_detected_at_640_and_boxes_map_back_to_source_pixels():
    c, finder = cascade(640)
    img = np.zeros((720, 1280, 3), np.uint8)
    r = c.process(Frame("t", 0, 0.0, img))            # warm-up: the whole frame goes to the detector
    assert finder.seen == [(640, 360)]
    assert r.passed and len(r.detections) == 1
    d = r.detections[0]
    assert (d.x1, d.y1, d.x2, d.y2) == (480.0, 180.0, 800.0, 540.0)     # centre quarter of 1280x720
    assert r.motion_regions == [(0, 0, 1280, 720)]


def test_coasted_boxes_are_in_source_pixels_too():
    c, finder = cascade(640)
    img = np.zeros((720, 1280, 3), np.uint8)
    c.process(Frame("t", 0, 0.0, img))
    r = c.process(Frame("t", 1, 0.2, img))             # no motion, within hold: passes on remembered boxes
    assert r.passed and not r.detector_ran
    assert r.detections[0].box() == (480.0, 180.0, 800.0, 540.0)


def test_small_frames_and_detect_width_off_are_left_alone():
    for width, frame_w in ((640, 352), (None, 1280)):
        c, finder = cascade(width)
        c.process(Frame("t", 0, 0.0, np.zeros((288, frame_w, 3), np.uint8)))
        assert finder.seen == [(frame_w, 288)]


def test_the_ungated_baseline_uses_the_same_detect_width():
    c, finder = cascade(640)
    dets = c.detect_ungated(np.zeros((720, 1280, 3), np.uint8))
    assert finder.seen == [(640, 360)] and dets[0].box() == (480.0, 180.0, 800.0, 540.0)


def test_downscale_keeps_the_aspect_ratio():
    small, s = to_detect_size(np.zeros((1080, 1920, 3), np.uint8), 640)
    assert small.shape[:2] == (360, 640) and s == 640 / 1920
