"""Procedural scenes with ground truth for the benchmark VLM (`vigil-bench-vlm`).

    from benchmarks.scenes import make_scenes, field_scores, QUESTION
    scenes = make_scenes("test", 100, seed=0)       # splits: train / val / test
    scores = field_scores(answer_json, scenes[0].truth)

generator.py draws the scenes and writes their truth (recipe v1); events.py draws recipe v2
(two groups, distractors, occlusion, multi-frame events); recipes.py puts either behind one
interface (`recipe_task(2)`); scoring.py scores an answer field by field; train.py trains the
model's vision side on them.
"""
from benchmarks.scenes.generator import (ACTIONS, CLASSES, COLOURS, POSITIONS, SPLITS, Scene, make_scenes,
                                         recipe, recipe_hash, render_scene)
from benchmarks.scenes.events import Event, make_events
from benchmarks.scenes.recipes import recipe_task
from benchmarks.scenes.scoring import FIELDS, FIELDS_V2, chance_scores, field_scores, fields_of, mean_scores
from cloud.models.bench.prompt import QUESTION, SYSTEM

__all__ = ["ACTIONS", "CLASSES", "COLOURS", "Event", "FIELDS", "FIELDS_V2", "make_events", "recipe_task", "POSITIONS", "QUESTION", "SPLITS", "SYSTEM", "Scene",
           "chance_scores", "field_scores", "fields_of", "make_scenes", "mean_scores", "recipe", "recipe_hash",
           "render_scene"]
