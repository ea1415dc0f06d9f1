"""OpenCV ``VideoCapture`` behind the ``FrameSource`` interface: files, RTSP, HTTP MJPEG, USB.

Files are sub-sampled to the camera's processing fps by *clip time* (every
``clip_fps / fps``-th frame is decoded, the rest are only grabbed), so a 25 fps
clip processed at 5 fps yields every 5th frame whether or not reads are paced.
``capture_time`` of a file frame is the open time plus its position in the clip,
which keeps dwell times and event onsets meaningful when a file is read faster
than real time. Live sources stamp wall-clock time; dropping stale live frames
is the worker's job (``edge/sources/worker.py``), not this class's.

A failed open says why (edge/sources/probe.py) in Vigil's own words. OpenCV's and FFmpeg's
own lines (FFmpeg's "Connection refused", OpenCV's misleading "backend is generally available but
can't be used to capture by name") are silenced unless the log level is DEBUG.
"""
from __future__ import annotations

import logging
import os
import threading
import time

import cv2

from edge.frame import Frame
from edge.sources.base import FrameSource, SourceError
from edge.sources.config import CameraConfig
from edge.sources.probe import diagnose
from vigil.redact import redact_url

log = logging.getLogger(__name__)

_FFMPEG_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_FFMPEG_ENV_LOCK = threading.Lock()
# Files whose container reports no fps are read as if they were 25 fps (PAL; the usual CCTV rate).
_FALLBACK_FPS = 25.0
# FFmpeg's log level, read by OpenCV once, at the first capture it opens: AV_LOG_QUIET (-8) below
# DEBUG; at DEBUG, AV_LOG_WARNING (24), so the raw causes are there for whoever asks for them.
_FFMPEG_LOGLEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"
_AV_LOG_QUIET, _AV_LOG_WARNING = "-8", "24"
_native_logs_set = False


def quiet_native_logs(debug: bool | None = None) -> None:
    """OpenCV's and FFmpeg's own log lines only at DEBUG (``debug`` None: whether this module logs DEBUG).

    Must run before the first capture opens (FFmpeg's level is read once); a level the user put in
    the environment is kept.
    """
    global _native_logs_set
    if debug is None:
        debug = log.isEnabledFor(logging.DEBUG)
    os.environ.setdefault(_FFMPEG_LOGLEVEL_ENV, _AV_LOG_WARNING if debug else _AV_LOG_QUIET)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING if debug else cv2.utils.logging.LOG_LEVEL_SILENT)
    _native_logs_set = True


class OpenCVSource(FrameSource):
    def __init__(self, cfg: CameraConfig):
        self.cfg = cfg
        self.camera_id = cfg.id
        self._cap: cv2.VideoCapture | None = None
        self._clip_fps = _FALLBACK_FPS
        self._pos = 0               # index of the next source frame
        self._emitted = 0
        self._opened_at = 0.0
        self._loops = 0
        self._frames_per_loop = 0

    # -- lifecycle ---------------------------------------------------------
    def describe(self) -> str:
        return f"camera {self.cfg.id!r} ({self.cfg.source_kind} {redact_url(str(self.cfg.url))!r})"

    def check(self) -> None:
        """Fail early, naming the path, when a file source cannot possibly work (yet: it may appear later)."""
        if self.cfg.source_kind == "file":
            path = str(self.cfg.url)
            if not os.path.isfile(path):
                reason = f"video file not found: {path}"
                raise SourceError(f"{self.describe()}: {reason}", reason=reason)
            if not os.access(path, os.R_OK):
                reason = f"video file is not readable: {path}"
                raise SourceError(f"{self.describe()}: {reason}", reason=reason)

    def open(self, quiet: bool = False) -> None:
        """Open the capture (``quiet``: a looping file's next pass, logged at DEBUG, not INFO)."""
        if self._cap is not None:
            return
        if not _native_logs_set:
            quiet_native_logs()
        kind = self.cfg.source_kind
        if kind == "file":
            self.check()
            cap = cv2.VideoCapture(str(self.cfg.url))
        elif kind == "usb":
            cap = cv2.VideoCapture(int(self.cfg.url))
        else:
            rc = self.cfg.reconnect
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(rc.open_timeout_s * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(rc.read_timeout_s * 1000)]
            if kind == "rtsp":
                # OpenCV takes FFmpeg options only from this (process-wide) variable, read during the open.
                with _FFMPEG_ENV_LOCK:
                    old = os.environ.get(_FFMPEG_ENV)
                    os.environ[_FFMPEG_ENV] = f"rtsp_transport;{self.cfg.rtsp_transport}"
                    try:
                        cap = cv2.VideoCapture(str(self.cfg.url), cv2.CAP_FFMPEG, params)
                    finally:
                        if old is None:
                            os.environ.pop(_FFMPEG_ENV, None)
                        else:
                            os.environ[_FFMPEG_ENV] = old
            else:
                cap = cv2.VideoCapture(str(self.cfg.url), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            cause = diagnose(self.cfg)
            raise SourceError(f"{self.describe()}: {cause.text}", reason=cause.text, final=cause.final)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._clip_fps = float(fps) if fps and 1.0 <= fps <= 240.0 else _FALLBACK_FPS
        self._cap = cap
        self._pos = 0
        self._opened_at = time.time()
        log.log(logging.DEBUG if quiet else logging.INFO, "%s opened (%.2f fps)", self.describe(), self._clip_fps)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    @property
    def clip_fps(self) -> float:
        return self._clip_fps

    # -- reading -----------------------------------------------------------
    def _step(self) -> int:
        """Source frames per emitted frame (>= 1) for files; live streams deliver every frame."""
        if self.cfg.is_live:
            return 1
        return max(1, round(self._clip_fps / self.cfg.fps))

    def _rewind(self) -> bool:
        """Start the file again from its first frame, by opening it again: seeking back with
        ``CAP_PROP_POS_FRAMES`` is unreliable with FFmpeg (after the seek a read could fail at once or
        mid-pass, and a looping camera in a soak ended with "end of file" in its second pass)."""
        assert self._cap is not None
        self._loops += 1
        opened_at = self._opened_at
        self._cap.release()
        self._cap = None
        self.open(quiet=True)
        self._opened_at = opened_at        # the clock runs on across passes (_loop_offset)
        return True

    def read(self) -> Frame | None:
        if self._cap is None:
            self.open()
        assert self._cap is not None
        step = self._step()
        # Skip to the next sampled frame: grab() demuxes without colour conversion.
        while self._pos % step != 0:
            if not self._cap.grab():
                return self._end_of_stream()
            self._pos += 1
        ok, image = self._cap.read()
        if not ok or image is None:
            return self._end_of_stream()
        index = self._pos
        self._pos += 1
        if self.cfg.is_live:
            capture_time = time.time()
        else:
            capture_time = self._opened_at + self._loop_offset() + index / self._clip_fps
            if self.cfg.paced:
                delay = capture_time - time.time()
                if delay > 0:
                    time.sleep(delay)
        self._emitted += 1
        return Frame(camera_id=self.cfg.id, index=index, capture_time=capture_time, image=image,
                     meta={"source_fps": self._clip_fps, "loop": self._loops})

    def _loop_offset(self) -> float:
        # Each loop continues the clock where the previous pass ended.
        return self._loops * self._frames_per_loop / self._clip_fps

    def _end_of_stream(self) -> Frame | None:
        if self.cfg.is_live:
            reason = "the stream ended or a read timed out"
            raise SourceError(f"{self.describe()}: {reason}", reason=reason)
        if self.cfg.loop and self._pos > 0:
            if self._loops == 0:           # the first pass's length sets the clock; a short later pass must not
                self._frames_per_loop = self._pos
            self._rewind()
            return self.read()
        return None


def open_source(camera_cfg: CameraConfig) -> FrameSource:
    """The source for ``camera_cfg`` (OpenCV handles every kind we support).

    A missing file fails here, naming the path; the stream itself is opened by
    ``open()`` or lazily by the first ``read()``.
    """
    source = OpenCVSource(camera_cfg)
    source.check()
    return source
