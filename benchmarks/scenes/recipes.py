"""One recipe version's scenes and scoring behind one small interface, so a benchmark takes `--recipe`.

    task = recipe_task(2)
    items = task.make_scenes("test", 60, seed=0)      # v1: Scene, v2: Event
    frames = task.frames(items[0])                     # the images of one request, in time order
    task.field_scores(answer, items[0].truth)

Recipe 1: one group of identical objects, one image (generator.py).
Recipe 2: two groups, distractors, occlusion, FRAMES images per event (events.py).
The question is the same for both: it lists the answer vocabulary, and recipe 2's answer
is the same schema with two objects (the model learns to list both from training).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from benchmarks.scenes import events, generator, scoring
from cloud.models.bench.prompt import QUESTION, SYSTEM

RECIPES = (1, 2)


@dataclass(frozen=True)
class RecipeTask:
    version: int
    frames_per_item: int
    make_scenes: Callable[..., list]
    recipe_hash: Callable[[], str]
    FIELDS: tuple[str, ...]
    fields_of: Callable[..., Any]
    field_scores: Callable[..., dict]
    mean_scores: Callable[..., dict]
    chance_scores: Callable[..., dict]
    QUESTION: str = QUESTION
    SYSTEM: str = SYSTEM

    def frames(self, item) -> list:
        return list(item.frames) if self.version == 2 else [item.image]

    def boxes(self, item) -> list[list[list[int]]]:
        """Per frame, the instances' pixel boxes."""
        return item.boxes if self.version == 2 else [item.boxes]


def recipe_task(version: int = 1) -> RecipeTask:
    if version not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {version!r}")
    score = {k: partial(getattr(scoring, k), recipe=version)
             for k in ("fields_of", "field_scores", "mean_scores", "chance_scores")}
    if version == 1:
        return RecipeTask(1, 1, generator.make_scenes, generator.recipe_hash, scoring.FIELDS, **score)
    return RecipeTask(2, events.FRAMES, events.make_events, events.recipe_hash, scoring.FIELDS_V2, **score)
