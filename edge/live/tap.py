"""The latest frame of each camera, with the gate's boxes, for whoever is watching.

Camera threads ``put`` every processed frame; only cameras with a viewer keep a copy (the rest
costs one dict lookup), so the live view adds nothing to the gate's path while nobody watches.
"""
from __future__ import annotations

import threading

import numpy as np

BOX_COLOUR = (0, 220, 255)     # BGR amber: visible on day and night footage
BOX_THICKNESS = 2


def draw_boxes(image: np.ndarray, boxes: list[tuple[float, float, float, float, str]]) -> np.ndarray:
    import cv2
    out = image.copy()
    for x1, y1, x2, y2, label in boxes:
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), BOX_COLOUR, BOX_THICKNESS)
        cv2.putText(out, label, (int(x1), max(0, int(y1) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, BOX_COLOUR, 1)
    return out


class FrameTap:
    def __init__(self, camera_ids: list[str]):
        self._lock = threading.Lock()
        self._latest: dict[str, np.ndarray | None] = {c: None for c in camera_ids}
        self._watchers: dict[str, int] = {c: 0 for c in camera_ids}

    def cameras(self) -> list[str]:
        return list(self._latest)

    def watch(self, camera_id: str) -> None:
        with self._lock:
            self._watchers[camera_id] += 1

    def unwatch(self, camera_id: str) -> None:
        with self._lock:
            self._watchers[camera_id] = max(0, self._watchers[camera_id] - 1)
            if not self._watchers[camera_id]:
                self._latest[camera_id] = None

    def watchers(self, camera_id: str) -> int:
        with self._lock:
            return self._watchers.get(camera_id, 0)

    def put(self, camera_id: str, image: np.ndarray, boxes) -> None:
        """A processed frame (BGR) and its gate boxes ``(x1, y1, x2, y2, label)``; kept only while watched."""
        if not self._watchers.get(camera_id):
            return
        framed = draw_boxes(image, list(boxes))
        with self._lock:
            self._latest[camera_id] = framed

    def latest(self, camera_id: str) -> np.ndarray | None:
        with self._lock:
            return self._latest.get(camera_id)
