"""The frame-source interface every camera kind implements."""
from __future__ import annotations

from abc import ABC, abstractmethod

from edge.frame import Frame


class SourceError(RuntimeError):
    """A source could not be opened or read; the message names the camera and its path/URL.

    ``reason`` is the cause alone, in an operator's words ("connection refused by host:554"), for
    the camera's state; ``final`` says that retrying cannot help (a file that will not decode).
    """

    def __init__(self, message: str, reason: str = "", final: bool = False):
        super().__init__(message)
        self.reason = reason or message
        self.final = final


class FrameSource(ABC):
    """open() once, read() until it returns None (end of a file), close().

    ``read`` raises ``SourceError`` when a live stream breaks; the camera worker
    turns that into the stalled/reconnecting states. It returns ``None`` only for
    a clean end of file (a non-looping file source).
    """

    camera_id: str

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> Frame | None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self):
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame
