"""Stage 0 on synthetic scenes: regions where things move, nothing where they don't, masks respected."""
import numpy as np

from edge.gate import MotionConfig, MotionGate


def scene(square_at: int | None = None, w: int = 320, h: int = 240) -> np.ndarray:
    img = np.full((h, w, 3), 90, np.uint8)
    img[::16, :, :] = 110                                    # some texture
    if square_at is not None:
        img[100:160, square_at:square_at + 40] = 230
    return img


def test_warm_up_sends_the_whole_frame():
    m = MotionGate(MotionConfig(warmup_frames=2))
    assert m.detect(scene()) == [(0, 0, 320, 240)]
    assert m.detect(scene()) == [(0, 0, 320, 240)]
    assert m.detect(scene()) == []


def test_a_moving_object_gives_a_region_around_it():
    m = MotionGate(MotionConfig(warmup_frames=1))
    m.detect(scene())
    regions = m.detect(scene(square_at=200))
    assert len(regions) == 1
    x1, y1, x2, y2 = regions[0]
    assert x1 <= 200 and x2 >= 240 and y1 <= 100 and y2 >= 160
    assert (x2 - x1) * (y2 - y1) < 0.25 * 320 * 240


def test_masked_motion_is_ignored():
    mask = [[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]]      # right half: a swaying tree
    m = MotionGate(MotionConfig(warmup_frames=1), masks=mask)
    m.detect(scene())
    assert m.detect(scene(square_at=200)) == []
    assert m.detect(scene(square_at=40))                               # left half still watched


def test_tiny_changes_are_below_min_area():
    m = MotionGate(MotionConfig(warmup_frames=1, min_area=0.01))
    base = scene()
    m.detect(base)
    speck = base.copy()
    speck[50:53, 50:53] = 255
    assert m.detect(speck) == []


def test_a_cut_is_reported_as_a_scene_change():
    m = MotionGate(MotionConfig(warmup_frames=1))
    m.detect(scene())
    regions = m.detect(255 - scene())
    assert regions == [(0, 0, 320, 240)] and m.scene_change


def textured(w: int = 360, h: int = 240, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8, w // 8), np.uint8)
    img = np.kron(small, np.ones((8, 8), np.uint8))                   # blocky texture survives the blur
    return np.dstack([img] * 3)


def test_a_panning_camera_is_compensated_but_an_object_moving_against_it_is_not():
    world = textured(480)
    m = MotionGate(MotionConfig(warmup_frames=1))
    plain = MotionGate(MotionConfig(warmup_frames=1, compensate_camera_motion=False))
    first = world[:, 0:360].copy()
    panned = world[:, 16:376].copy()                                   # the camera turned by 16 px
    for g in (m, plain):
        g.detect(first)
    assert plain.detect(panned.copy())                                 # without compensation: the pan is motion
    assert m.detect(panned.copy()) == []                               # with it: nothing moved in the scene
    m2 = MotionGate(MotionConfig(warmup_frames=1))
    m2.detect(first)
    walker = panned.copy()
    walker[80:160, 200:240] = 255                                      # someone walks in while the camera pans
    regions = m2.detect(walker)
    assert len(regions) == 1
    x1, y1, x2, y2 = regions[0]
    assert x1 <= 200 and x2 >= 240 and y1 <= 80 and y2 >= 160 and (x2 - x1) < 180
