"""A captured frame as it moves through the edge pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    camera_id: str
    index: int                 # frame number within the source
    capture_time: float        # unix seconds
    image: np.ndarray          # BGR uint8, HxWx3
    meta: dict = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
