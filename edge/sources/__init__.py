"""Camera sources: the ``FrameSource`` interface, OpenCV-backed file/RTSP/HTTP/USB sources,
and (``worker.py``) one thread per camera with a reconnecting state machine."""
from __future__ import annotations

from edge.sources.base import FrameSource, SourceError
from edge.sources.config import CameraConfig, ObjectFilter, ReconnectConfig, ZoneConfig
from edge.sources.opencv import OpenCVSource
from edge.sources.state import CameraState, CameraStateMachine
from edge.sources.worker import CameraWorker, FrameSlot


def open_source(camera_cfg: CameraConfig) -> FrameSource:
    """The source for ``camera_cfg`` (OpenCV handles every kind we support).

    A missing file fails here, naming the path; the stream itself is opened by
    ``open()`` or lazily by the first ``read()``.
    """
    source = OpenCVSource(camera_cfg)
    source.check()
    return source


__all__ = ["CameraConfig", "CameraState", "CameraStateMachine", "CameraWorker", "FrameSlot", "FrameSource",
           "ObjectFilter", "OpenCVSource", "ReconnectConfig", "SourceError",
           "ZoneConfig", "open_source"]
