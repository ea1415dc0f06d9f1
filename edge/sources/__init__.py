"""Camera sources: the ``FrameSource`` interface, OpenCV-backed file/RTSP/HTTP/USB sources,
and (``worker.py``) one thread per camera with a reconnecting state machine.

Exports resolve lazily, so reading `CameraConfig` imports no OpenCV.
"""
from __future__ import annotations

from vigil.lazy import lazy_exports

_EXPORTS = {
    "FrameSource": "edge.sources.base", "SourceError": "edge.sources.base",
    "CameraConfig": "edge.sources.config", "ObjectFilter": "edge.sources.config",
    "ReconnectConfig": "edge.sources.config", "ZoneConfig": "edge.sources.config",
    "OpenCVSource": "edge.sources.opencv", "open_source": "edge.sources.opencv",
    "CameraState": "edge.sources.state", "CameraStateMachine": "edge.sources.state",
    "CameraWorker": "edge.sources.worker", "FrameSlot": "edge.sources.worker",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
