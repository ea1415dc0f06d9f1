"""File sources: sampling to the processing fps, looping, clear errors, and camera config validation."""
import os

import cv2
import numpy as np
import pytest

from edge.sources import CameraConfig, SourceError, open_source
from edge.sources.worker import CameraWorker
from vigil.footage import clip_path
from vigil.settings import ConfigError, load_config


def test_bikes_is_read_at_the_processing_fps():
    cam = CameraConfig(id="bikes", url=str(clip_path("bikes.mp4")), fps=5)
    frames = list(open_source(cam))
    assert len(frames) == 50                            # 250 frames at 25 fps, every 5th
    assert [f.index for f in frames[:3]] == [0, 5, 10]
    gaps = np.diff([f.capture_time for f in frames])
    assert np.allclose(gaps, 0.2, atol=1e-3)            # clip time, even though read flat out
    assert frames[0].image.shape == (272, 640, 3)


def test_looping_file_continues_the_clock(tmp_path):
    path = str(tmp_path / "tiny.avi")
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(10):
        vw.write(np.full((48, 64, 3), i * 20, np.uint8))
    vw.release()
    src = open_source(CameraConfig(id="t", url=path, fps=5, loop=True))
    frames = [src.read() for _ in range(12)]           # 5 per pass; keeps going
    src.close()
    assert all(f is not None for f in frames)
    times = [f.capture_time for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))


def test_a_looping_file_is_opened_again_for_each_pass_not_seeked(tmp_path, monkeypatch, caplog):
    """Seeking back to frame 0 is unreliable with FFmpeg (a soak's camera ended in its second pass): each
    pass opens the file again, every pass has all its frames, the clock runs on, and only the first open
    is an INFO line."""
    import logging
    path = str(tmp_path / "tiny.avi")
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(10):
        vw.write(np.full((48, 64, 3), i * 20, np.uint8))
    vw.release()
    seeks = []
    real_set = cv2.VideoCapture.set
    monkeypatch.setattr(cv2.VideoCapture, "set", lambda self, prop, v: seeks.append(prop) or real_set(self, prop, v))
    caplog.set_level(logging.INFO, "edge.sources.opencv")
    src = open_source(CameraConfig(id="t", url=path, fps=5, loop=True))
    frames = [src.read() for _ in range(20)]           # four passes of 5
    src.close()
    assert [f.index for f in frames] == [0, 2, 4, 6, 8] * 4
    assert [f.meta["loop"] for f in frames] == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    assert cv2.CAP_PROP_POS_FRAMES not in seeks
    times = [f.capture_time for f in frames]
    assert all(abs((b - a) - 0.2) < 1e-6 for a, b in zip(times, times[1:]))   # one clock across passes
    assert sum("opened" in r.getMessage() for r in caplog.records) == 1


def test_missing_file_error_names_the_path(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match="nope.mp4"):
        open_source(CameraConfig(id="cam", url=str(missing)))


def test_unreadable_file_error_names_the_path(tmp_path):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    src = open_source(CameraConfig(id="cam", url=str(bad)))
    with pytest.raises(SourceError, match="garbage.mp4"):
        src.open()


def test_worker_hands_over_every_sampled_frame_of_a_file():
    cam = CameraConfig(id="bikes", url=str(clip_path("bikes.mp4")), fps=5)
    with CameraWorker(cam) as w:
        frames = list(w.frames())
        assert w.state.value == "ended"
    assert [f.index for f in frames] == list(range(0, 250, 5))


def test_source_kind_is_chosen_from_the_url():
    assert CameraConfig(id="a", url="rtsp://cam/1").source_kind == "rtsp"
    assert CameraConfig(id="a", url="http://cam/video.mjpg").source_kind == "http"
    assert CameraConfig(id="a", url=0).source_kind == "usb"
    assert CameraConfig(id="a", url="/videos/x.mp4").source_kind == "file"


def _load(tmp_path, text: str):
    p = tmp_path / "cam.yaml"
    p.write_text(text)
    return load_config(CameraConfig, p, env_prefix="VIGIL_TEST_CAM", environ={})


def test_unknown_object_class_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "id: a\nurl: x.mp4\nobjects: [person, persn]\n")
    assert "objects" in str(err.value) and "persn" in str(err.value)


def test_zone_polygon_needs_three_points(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "id: a\nurl: x.mp4\nzones:\n  - name: door\n    polygon: [[0.1, 0.1], [0.5, 0.5]]\n")
    assert "zones.0.polygon" in str(err.value) and "at least 3 points" in str(err.value)


def test_misspelt_key_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="min_scroe"):
        _load(tmp_path, "id: a\nurl: x.mp4\nmin_scroe: 0.5\n")


def test_mask_points_must_be_relative(tmp_path):
    with pytest.raises(ConfigError, match=r"masks\[0\] polygon point \(320"):
        _load(tmp_path, "id: a\nurl: x.mp4\nmasks: [[[0, 0], [320, 0], [320, 40]]]\n")


def test_worker_on_a_file_that_cannot_be_opened_fails_once_and_finishes(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with CameraWorker(CameraConfig(id="cam", url=str(bad))) as w:
        assert list(w.frames(poll_s=0.2)) == []
        snap = w.snapshot()
    assert snap["state"] == "failed" and "broken.mp4" in snap["last_error"] and snap["reconnects"] == 0


def test_filters_for_unknown_classes_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="filters"):
        _load(tmp_path, "id: a\nurl: x.mp4\nfilters:\n  persn: {min_score: 0.7}\n")
