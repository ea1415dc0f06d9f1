"""A small HTTP MJPEG camera (``multipart/x-mixed-replace``), the format most IP cameras serve.

Used by the reconnection tests (start, kill and restart a real stream mid-way),
and handy by hand: ``python -m tests.helpers.mjpeg_server clip.mp4 --port 8081``
turns a clip into a live camera at ``http://127.0.0.1:8081/stream.mjpg``.
``pause()`` keeps connections open but stops sending frames (a stalled camera);
``stop()`` closes everything (a camera that went away).
"""
from __future__ import annotations

import argparse
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import cv2
import numpy as np

BOUNDARY = "vigilframe"


def clip_frames(path: str) -> Iterator[np.ndarray]:
    """Frames of a clip, looping forever."""
    while True:
        cap = cv2.VideoCapture(path)
        ok, img = cap.read()
        if not ok:
            cap.release()
            raise ValueError(f"cannot read frames from {path}")
        while ok:
            yield img
            ok, img = cap.read()
        cap.release()


def counter_frames(width: int = 160, height: int = 120) -> Iterator[np.ndarray]:
    """Synthetic frames with the frame number written on them (for tests that count)."""
    for i in itertools.count():
        img = np.full((height, width, 3), 40, np.uint8)
        cv2.putText(img, str(i), (8, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        yield img


class MjpegServer:
    def __init__(self, frames: Callable[[], Iterator[np.ndarray]], fps: float = 10.0, host: str = "127.0.0.1",
                 port: int = 0, quality: int = 80):
        self._frames_factory = frames
        self.fps = fps
        self.host = host
        self.port = port
        self.quality = quality
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._paused = threading.Event()
        self._stopping = threading.Event()
        self.frames_sent = 0
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/stream.mjpg"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:   # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if not self.path.startswith("/stream"):
                    self.send_error(404)
                    return
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                period = 1.0 / server.fps
                frames = server._frames_factory()
                nxt = time.monotonic()
                try:
                    while not server._stopping.is_set():
                        if server._paused.is_set():
                            time.sleep(0.02)
                            continue
                        img = next(frames)
                        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, server.quality])
                        data = jpg.tobytes()
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        server.frames_sent += 1
                        nxt += period
                        time.sleep(max(0.0, nxt - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError, OSError):
                    return

        return Handler

    def start(self) -> "MjpegServer":
        self._stopping.clear()
        self._paused.clear()
        httpd = ThreadingHTTPServer((self.host, self.port), self._handler())
        httpd.daemon_threads = True
        httpd.allow_reuse_address = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mjpeg-{self.port}", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        """Kill the camera: stop accepting and drop every open stream."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve a clip (looped) as an HTTP MJPEG camera.")
    p.add_argument("clip")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--fps", type=float, default=10.0)
    a = p.parse_args(argv)
    srv = MjpegServer(lambda: clip_frames(a.clip), fps=a.fps, host=a.host, port=a.port).start()
    print(srv.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
