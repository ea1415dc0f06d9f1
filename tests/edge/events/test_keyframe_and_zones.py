"""Key frames (the sharpest/biggest/surest frame is chosen) and zone geometry."""
import cv2
import numpy as np

from edge.detection import Detection
from edge.events import point_in_polygon
from edge.events.keyframe import frame_quality


def textured(h=200, w=300, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_key_frame_quality_prefers_sharp_over_blurred():
    sharp = textured()
    blurred = cv2.GaussianBlur(sharp, (15, 15), 5)
    d = [Detection(50, 50, 150, 180, "person", 0.8)]
    assert frame_quality(sharp, d) > 2 * frame_quality(blurred, d)
    bigger = [Detection(20, 20, 280, 190, "person", 0.8)]
    assert frame_quality(sharp, bigger) > frame_quality(sharp, d)


def test_point_in_polygon():
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    tri = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    assert point_in_polygon(0.5, 0.5, square)
    assert point_in_polygon(0.2, 0.2, tri) and not point_in_polygon(0.8, 0.8, tri)
    assert point_in_polygon(1.0, 0.5, square)             # on an edge counts as inside
