"""The cascade on real frames: people pass, empty scenes do not."""
import importlib.util
from pathlib import Path

import cv2
import pytest

from edge.frame import Frame
from edge.gate import GateCascade, GateConfig, HogPersonDetector
from edge.sources import CameraConfig
from vigil.footage import clip_path

ASSETS = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"     # bus.jpg, zidane.jpg


def clip_frame(name: str, index: int):
    cap = cv2.VideoCapture(str(clip_path(name)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, img = cap.read()
    cap.release()
    assert ok
    return img


def hog_cascade(**cam) -> GateCascade:
    return GateCascade(GateConfig(detector="hog"), CameraConfig(id="t", url="", **cam))


def feed(cascade: GateCascade, images, t0: float = 0.0, dt: float = 0.2):
    return [cascade.process(Frame("t", i, t0 + i * dt, img)) for i, img in enumerate(images)]


@pytest.mark.parametrize("clip,index", [("bikes.mp4", 110), ("bikes.mp4", 30), ("carphone_pristine.mp4", 30)])
def test_a_frame_with_a_person_passes(clip, index):
    img = clip_frame(clip, index)
    r = feed(hog_cascade(), [img])[0]          # first frame: motion warm-up sends the whole frame on
    assert r.passed and r.reason == "detected"
    assert r.detections and all(d.label == "person" for d in r.detections)
    H, W = img.shape[:2]
    assert all(0 <= d.x1 < d.x2 <= W and 0 <= d.y1 < d.y2 <= H for d in r.detections)


def test_people_in_ultralytics_sample_images_are_found():
    for name in ("bus.jpg", "zidane.jpg"):
        img = cv2.imread(str(ASSETS / name))
        r = feed(hog_cascade(), [img])[0]
        assert r.passed, name


def test_an_empty_frame_does_not_pass():
    img = clip_frame("bikes.mp4", 10)           # a vehicle roof seen from above: nobody
    r = feed(hog_cascade(), [img])[0]
    assert r.detector_ran and not r.passed and r.reason == "nothing-detected"


def test_a_still_scene_never_reaches_the_detector():
    img = clip_frame("bikes.mp4", 10)           # nobody there, and nothing moves
    g = hog_cascade()
    results = feed(g, [img] * 6)
    assert all(r.reason == "no-motion" and not r.passed for r in results[2:])
    assert g.stats["detector_runs"] <= 2 and all(r.detect_ms == 0.0 for r in results[2:])


def test_a_person_walking_into_a_still_scene_is_detected_on_a_crop():
    empty = clip_frame("bikes.mp4", 10)
    person = clip_frame("bikes.mp4", 110)
    # paste the cyclist region into the empty scene: motion only where he appears
    scene = empty.copy()
    scene[20:250, 390:530] = person[20:250, 390:530]
    g = hog_cascade()
    results = feed(g, [empty, empty, empty, scene])
    last = results[-1]
    assert last.motion_regions and last.passed
    x1, y1, x2, y2 = last.motion_regions[0]
    assert (x2 - x1) * (y2 - y1) < 0.6 * 640 * 272      # the detector saw a crop, not the frame
    assert any(x1 <= d.x1 and d.x2 <= x2 for d in last.detections)      # found inside the crop


def test_min_area_and_objects_of_interest_filter_detections():
    img = clip_frame("bikes.mp4", 110)
    assert not feed(hog_cascade(min_area=0.9), [img])[0].passed       # boxes smaller than 90 % of the frame
    g = GateCascade(GateConfig(detector="hog"), CameraConfig(id="t", url="", objects=["car"]))
    assert not feed(g, [img])[0].passed                               # HOG only knows people


def test_hog_upscales_small_frames():
    img = clip_frame("carphone_pristine.mp4", 0)     # 176x144: smaller than HOG's window at 1x
    det = HogPersonDetector()
    assert det._scale_for(img.shape[0]) > 1.0
    assert det.detect(img)


def test_per_class_filters_override_the_camera_defaults():
    img = clip_frame("bikes.mp4", 110)
    strict = hog_cascade(filters={"person": {"min_score": 0.99}})
    assert not feed(strict, [img])[0].passed
    lenient = hog_cascade(min_score=0.99, filters={"person": {"min_score": 0.5}})
    assert feed(lenient, [img])[0].passed
