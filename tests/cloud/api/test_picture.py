"""Review pictures: boxes drawn where the edge put them; thumbnails cropped to the object, not the scene."""
import cv2
import numpy as np

from cloud.api.picture import BOX_BGR, MIN_CROP_PX, MAX_ASPECT, MIN_ASPECT, crop_around, render


def _jpeg(w=640, h=480):
    return cv2.imencode(".jpg", np.full((h, w, 3), 40, np.uint8))[1].tobytes()


def _decode(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_boxes_are_drawn_at_their_pixels():
    img = _decode(render(_jpeg(), [{"label": "person", "score": 0.9, "box": [100, 150, 200, 400]}]))
    assert img.shape == (480, 640, 3)
    edge = img[300, 100].astype(int)                      # on the box's left edge, below its caption
    assert np.abs(edge - BOX_BGR).max() < 40
    assert np.abs(img[300, 400].astype(int) - 40).max() < 10   # far from it: untouched


def test_thumbnail_is_cropped_around_the_best_box_with_a_margin():
    best = {"label": "person", "score": 0.9, "box": [300, 200, 340, 300]}
    img = _decode(render(_jpeg(), [], best))
    x1, y1, x2, y2 = crop_around(best["box"], 640, 480)
    assert img.shape[:2] == (y2 - y1, x2 - x1)
    assert 40 < img.shape[1] < 640 and 100 < img.shape[0] < 480     # the object with context, not the scene
    assert crop_around([0, 0, 2, 2], 640, 480)[2] >= MIN_CROP_PX     # a tiny box keeps some context


def test_a_tall_box_at_the_frame_edge_gets_a_whole_thumbnail_shaped_crop():
    x1, y1, x2, y2 = crop_around([335, 190, 405, 440], 405, 540)     # a person at the right edge
    assert x2 == 405 and x1 < 335 and y1 <= 190 and y2 >= 440         # slid inside, not cut
    assert MIN_ASPECT - 0.01 <= (x2 - x1) / (y2 - y1) <= MAX_ASPECT + 0.01 and x2 - x1 < 405


def test_nothing_to_draw_or_undecodable_bytes_come_back_unchanged():
    raw = _jpeg()
    assert render(raw, []) == raw and render(b"not a jpeg", [{"box": [0, 0, 1, 1]}]) == b"not a jpeg"
