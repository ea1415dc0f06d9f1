import cv2
import pytest

from vigil.footage import clip_path


@pytest.mark.parametrize("name,size", [("bikes.mp4", (640, 272)), ("carphone_pristine.mp4", (176, 144))])
def test_sample_clips_are_real_video(name, size):
    cap = cv2.VideoCapture(str(clip_path(name)))
    ok, frame = cap.read()
    cap.release()
    assert ok and (frame.shape[1], frame.shape[0]) == size and frame.std() > 10


def test_unknown_clip_is_named():
    with pytest.raises(ValueError, match="nope.mp4"):
        clip_path("nope.mp4")


def test_read_frames_samples_by_start_step_and_limit():
    from vigil.footage import read_frames
    every = read_frames("carphone_pristine.mp4")
    picked = read_frames("carphone_pristine.mp4", start=3, step=10, limit=4)
    assert len(every) == 120 and len(picked) == 4
    assert all((p == every[3 + 10 * i]).all() for i, p in enumerate(picked))
    with pytest.raises(ValueError):
        read_frames("carphone_pristine.mp4", step=0)
