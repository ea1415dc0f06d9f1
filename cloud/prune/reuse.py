"""Reuse a camera's visual-token selection across consecutive frames (beyond the paper).

A fixed camera watching a static scene produces nearly identical visual tokens
frame after frame, so the kept set barely changes while its cost (a shallow LLM
pass for text attention, then the selection loop) is paid again. We keep, per
camera, the last frame's L2-normalised visual tokens and kept indices; a new
frame reuses them when the mean per-token cosine similarity to that frame is at
least `similarity` (one N×D dot product, far cheaper than a shallow LLM pass),
the token count and budget match, and the selection is younger than
`max_frames` frames (so slow drift is still caught). The comparison is against
the frame that was actually selected on, so drift accumulates instead of hiding.
The question text is not part of the key: hints change every frame (dwell
time) while the scene, which is what the tokens show, does not.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels.id_selection.reference import normalize_rows


@dataclass
class _Entry:
    feats: torch.Tensor  # (N, D) normalised tokens of the frame the selection was made on
    k: int
    kept: torch.Tensor
    age: int = 0


class SelectionReuse:
    def __init__(self, similarity: float, max_frames: int):
        self.similarity = similarity
        self.max_frames = max_frames
        self._entries: dict[str, _Entry] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def scene_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
        """Mean per-token cosine similarity of two normalised (N, D) token sets."""
        return float((a * b).sum(dim=-1).mean())

    def lookup(self, stream_id: str, visual: torch.Tensor, k: int) -> torch.Tensor | None:
        entry = self._entries.get(stream_id)
        if entry is None or entry.k != k or entry.feats.shape != visual.shape or entry.age + 1 >= self.max_frames:
            self.misses += 1
            return None
        if self.scene_similarity(entry.feats, normalize_rows(visual.detach())) < self.similarity:
            self.misses += 1
            return None
        entry.age += 1
        self.hits += 1
        return entry.kept

    def store(self, stream_id: str, visual: torch.Tensor, k: int, kept: torch.Tensor) -> None:
        self._entries[stream_id] = _Entry(normalize_rows(visual.detach()), k, kept)

    def forget(self, stream_id: str) -> None:
        self._entries.pop(stream_id, None)
