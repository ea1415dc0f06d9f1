"""Visual guidance: boxes drawn, ROI crops kept, the sharpest/biggest/surest frame chosen as key frame."""
import cv2
import numpy as np

from edge.detection import Detection
from edge.events import point_in_polygon, roi_crops, visual_guidance
from edge.events.keyframe import frame_quality


def textured(h=200, w=300, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_boxes_are_drawn_and_crops_cover_the_objects():
    img = np.zeros((200, 300, 3), np.uint8)
    d = Detection(50, 40, 110, 160, "person", 0.9, track_id=3)
    g = visual_guidance(img, [d], margin=0.1)
    assert img.sum() == 0                                  # the original frame is untouched
    assert g.annotated[100, 50].any() and not g.annotated[100, 80].any()   # outline, not a fill
    (crop,) = g.crops
    assert crop.box == (44, 28, 116, 172)
    assert crop.image.shape == (144, 72, 3)


def test_crops_are_clipped_to_the_frame_and_limited():
    img = textured()
    dets = [Detection(-10, -10, 30, 30, "person", 0.5)] + [Detection(100, 50, 150, 150, "person", 0.9)] * 5
    crops = roi_crops(img, dets, limit=3)
    assert len(crops) == 3
    for c in crops:
        x1, y1, x2, y2 = c.box
        assert 0 <= x1 < x2 <= 300 and 0 <= y1 < y2 <= 200


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
