"""Adaptive encoding: the size model learns real JPEG sizes and the chosen rung fits the budget."""
import numpy as np
import pytest

from edge.transmit.dat import encoder as enc
from edge.transmit.dat.size_model import JpegSizeModel
from vigil.footage import read_frames
from vigil.v1 import vigil_pb2 as pb


def frames(name, n=12, step=7):
    return read_frames(name, step=step, limit=n)


@pytest.mark.parametrize("clip", ["bikes.mp4", "carphone_pristine.mp4"])
def test_size_model_learns_online_and_choices_fit_budget(clip):
    imgs = frames(clip)
    model = JpegSizeModel()
    rng = np.random.default_rng(0)
    errors, fits = [], []
    for k, img in enumerate(imgs * 2):
        h, w = img.shape[:2]
        budget = float(rng.uniform(3_000, 40_000))
        rung = enc.choose_rung(pb.EVIDENCE, w, h, budget, model)
        data = enc.encode(img, rung, model)
        if k >= 8:  # after a few encodes of this camera
            errors.append(abs(np.log(len(data) / model.predict(rung.width * rung.height, rung.quality))))
            if rung.predicted_bytes <= budget:
                fits.append(len(data) <= 1.15 * budget)
    assert np.median(errors) < 0.25, "size prediction still off by more than ~25 % after learning"
    assert len(fits) >= 8 and np.mean(fits) >= 0.9, "chosen encodings overshoot their budget"


def test_smaller_budget_never_gives_a_larger_choice():
    model = JpegSizeModel()
    sizes = [enc.choose_rung(pb.SEMANTIC_FRAME, 640, 272, b, model).predicted_bytes
             for b in (50_000, 10_000, 3_000, 500)]
    assert sizes == sorted(sizes, reverse=True)
    # nothing fits: the cheapest rung, never nothing
    cheapest = enc.choose_rung(pb.SEMANTIC_FRAME, 640, 272, 1, model)
    assert cheapest.width == enc.LADDERS[pb.SEMANTIC_FRAME][-1][0]


def test_roi_crop_contains_boxes_with_margin_and_never_upscales():
    crop = enc.roi_crop(640, 272, [(300, 100, 340, 200)])
    assert crop[0] <= 300 and crop[1] <= 100 and crop[2] >= 340 and crop[3] >= 200
    assert crop[2] - crop[0] >= 0.35 * 640 - 1 and 0 <= crop[0] and crop[2] <= 640
    assert enc.roi_crop(640, 272, []) is None
    rung = enc.choose_rung(pb.EVIDENCE, 176, 144, 1e9, JpegSizeModel())
    assert (rung.width, rung.height) == (176, 144)


def test_floored_ladder_keeps_quality_steps_at_the_floor_and_never_narrows_the_source():
    ladder = ((0, 90), (640, 75), (512, 60), (480, 50), (400, 50), (320, 45), (224, 35))
    assert enc.floored(ladder, 0) == ladder
    assert enc.floored(ladder, 480) == ((0, 90), (640, 75), (512, 60), (480, 50), (480, 45), (480, 35))
    # every rung of the shipped evidence ladder is at least the floor (or the source's own width)
    assert all(w == 0 or w >= 480 for w, _ in enc.floored(enc.LADDERS[pb.EVIDENCE], 480))


def test_evidence_floor_holds_when_nothing_fits_and_a_narrow_source_is_sent_whole():
    model = JpegSizeModel()
    assert enc.choose_rung(pb.EVIDENCE, 640, 272, 1, model).width == 224     # no floor: the old cheapest rung
    cheapest = enc.choose_rung(pb.EVIDENCE, 640, 272, 1, model, min_width=480)
    assert cheapest.width == 480 and cheapest.quality == enc.LADDERS[pb.EVIDENCE][-1][1]
    narrow = enc.choose_rung(pb.EVIDENCE, 176, 144, 1, model, min_width=480)
    assert (narrow.width, narrow.height) == (176, 144)
