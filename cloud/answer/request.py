"""What the server hands the engine and what it gets back (plain data, no torch)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cloud.answer.schema import EventDescription


@dataclass
class DescribeRequest:
    """One event to describe: its key frames plus what the edge already knows.

    images: RGB uint8 arrays (H, W, 3), one or several frames of the same event.
    detections: the edge's boxes, each {"label": str, "score": float,
        "box": [x1, y1, x2, y2]} in pixels of `images[frame]`; an optional
        "frame" index (default 0) says which image the box belongs to.
    hints: the edge's semantic hints: counts ({label: n}), zone, dwell_seconds,
        camera_name, severity, rule (all optional).
    severity: 0..1 event weight (higher is served first).
    deadline: unix seconds after which the description is useless (None: no deadline).
    """

    request_id: str
    camera_id: str
    event_id: str
    images: list[np.ndarray]
    detections: list[dict] = field(default_factory=list)
    hints: dict = field(default_factory=dict)
    severity: float = 0.5
    deadline: float | None = None


@dataclass
class DescribeResult:
    """The constrained answer and where the time went (milliseconds)."""

    request_id: str
    # The answer as strict JSON: the model's constrained output, validated and re-serialized
    # (raw output may hold control characters inside strings, which strict parsers reject).
    text: str
    description: EventDescription    # `text`, parsed and validated
    prompt_tokens: int               # tokens prefilled (after visual-token pruning)
    visual_tokens: int               # visual tokens kept in the prompt
    generated_tokens: int
    queue_ms: float                  # submit -> admitted to a prefill batch
    prefill_ms: float                # the prefill step that produced the first token
    decode_ms: float                 # first token -> answer complete
    visual_tokens_before_prune: int = 0
    raw_text: str = ""               # the model's output exactly as generated

    @property
    def total_ms(self) -> float:
        return self.queue_ms + self.prefill_ms + self.decode_ms
