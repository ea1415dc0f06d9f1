"""Gate stage interfaces and the cascade's per-frame result."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from edge.detection import Detection

Region = tuple[int, int, int, int]   # x1, y1, x2, y2 in source-frame pixels


class GateStage(ABC):
    """One stage of the small-large cascade. ``name`` shows up in logs and benchmarks."""

    name: str = "stage"

    def reset(self) -> None:
        """Forget per-stream state (a camera reconnected or a file looped)."""


class MotionStage(GateStage):
    scene_change: bool = False      # set by detect(): the last frame changed almost everywhere

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Region]:
        """Regions that changed since the background; during warm-up the whole frame."""


class DetectorStage(GateStage):
    labels: frozenset[str] = frozenset()

    @abstractmethod
    def detect(self, image: np.ndarray, regions: list[Region] | None = None) -> list[Detection]:
        """Objects in ``image`` (or only inside ``regions``), boxes in ``image`` pixels."""


@dataclass
class GateResult:
    passed: bool
    detections: list[Detection] = field(default_factory=list)
    motion_regions: list[tuple] = field(default_factory=list)
    motion_ms: float = 0.0
    detect_ms: float = 0.0
    reason: str = ""            # no-motion | detected | nothing-detected | held | tracked | stationary
    detector_ran: bool = False

    @property
    def cost_ms(self) -> float:
        return self.motion_ms + self.detect_ms
