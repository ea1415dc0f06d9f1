"""The benchmark VLM trainer: per-patch targets, the teacher-forced batch layout, a recipe-2 smoke run."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmarks.scenes import generator as gen
from benchmarks.scenes import train


def test_patch_targets_follow_the_instance_mask():
    scene = gen.render_scene("train", 0, 0)
    while scene.truth["objects"] == []:
        scene = gen.render_scene("train", 0, scene.index + 1)
    patch, cls_t = train.scene_labels(scene)
    cover = (scene.mask > 0).reshape(24, 14, 24, 14).mean(axis=(1, 3)).reshape(-1)
    assert (patch[cover == 0, 0] == 0).all()                       # background patches learn "background"
    assert (patch[(cover > 0) & (cover < train.OBJECT_COVER), 0] == train.IGNORE).all()
    obj = cover >= train.OBJECT_COVER
    assert obj.any() and (patch[obj, 0] == cls_t[0]).all() and cls_t[0] > 0
    assert (patch[obj, 2] == scene.truth["objects"][0]["count"] - 1).all()


class _Builder:
    """Prompt [t0 v v v t1] with three visual tokens; end token 9."""

    def __init__(self):
        self.ids = torch.tensor([1, 5, 5, 5, 2])
        self.is_visual = self.ids == 5
        self.end = 9


def _model(dim: int = 4):
    emb = torch.nn.Embedding(10, dim)
    torch.nn.init.zeros_(emb.weight)
    return SimpleNamespace(model=SimpleNamespace(language_model=SimpleNamespace(embed_tokens=emb)))


def test_teacher_forced_batch_keeps_original_positions_and_pads_answers_last():
    visual = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4) + 1.0
    keep = torch.tensor([[0, 2], [1, 2]])
    emb, pos, target = train.batch_inputs(_model(), _Builder(), visual, [[7, 9], [7, 8, 9]], keep)
    # prompt: 2 text + 2 kept visual tokens at their original positions, then answer[:-1] at 5, 6
    assert pos.tolist() == [[0, 1, 3, 4, 5, 6], [0, 2, 3, 4, 5, 6]]
    assert torch.equal(emb[0, 1], visual[0, 0]) and torch.equal(emb[0, 2], visual[0, 2])
    assert torch.equal(emb[1, 1], visual[1, 1]) and torch.equal(emb[1, 2], visual[1, 2])
    assert target.tolist() == [[7, 9, train.IGNORE], [7, 8, 9]]   # the short answer's pad carries no loss


def test_all_visual_tokens_when_nothing_is_pruned():
    visual = torch.ones(1, 3, 4)
    emb, pos, _ = train.batch_inputs(_model(), _Builder(), visual, [[9]], None)
    assert pos.tolist() == [[0, 1, 2, 3, 4]] and emb.shape[1] == 5


def test_random_subsets_are_sorted_and_within_bounds():
    g = torch.Generator().manual_seed(0)
    keep = train.random_keep(4, 576, g, "cpu")
    assert keep.shape[0] == 4 and train.MIN_SUBSET <= keep.shape[1] < 576
    assert (keep.diff(dim=1) > 0).all() and int(keep.max()) < 576
    assert np.unique(keep[0].numpy()).size == keep.shape[1]


def test_recipe2_targets_cover_both_groups_per_frame():
    from benchmarks.scenes import events as ev
    from benchmarks.scenes import targets_v2

    event = ev.render_event("train", 0, 3)
    patch, cls_t = targets_v2.event_labels(event, train.OBJECT_COVER)
    assert patch.shape == (ev.FRAMES, 576, len(targets_v2.PATCH_HEADS)) and cls_t.shape == (7,)
    main, second = event.truth["objects"]
    assert cls_t[2] == main["count"] and cls_t[6] == second["count"]
    for f in range(ev.FRAMES):
        roles = set(patch[f, patch[f, :, 0] > 0, 4].tolist())
        assert roles <= {0, 1} and 0 in roles                      # the main group is seen in every frame
        assert (patch[f, patch[f, :, 4] == 0, 2] == main["count"] - 1).all()
    assert len(targets_v2.PROJECTOR_WORDS) == sum(targets_v2.PATCH_HEADS.values())


def test_multi_frame_prompt_has_one_image_run_per_frame():
    class Tok:
        def apply_chat_template(self, msgs, **_):
            return "|".join(m["content"] for m in msgs)

        def __call__(self, text, **_):
            ids = [5 if ch == "I" else 1 for ch in text.replace("<image>", "I")]
            return SimpleNamespace(input_ids=torch.tensor([ids]))

        def convert_tokens_to_ids(self, _):
            return 9

    b1, b3 = train.SequenceBuilder(Tok(), 5, 1), train.SequenceBuilder(Tok(), 5, 3)
    assert int(b1.is_visual.sum()) == 576 and int(b3.is_visual.sum()) == 3 * 576


@pytest.mark.slow
def test_recipe2_smoke_training_runs_on_cpu(tmp_path):
    """Tiny steps of both stages on recipe-2 events (three frames a prompt) end in saved weights."""
    from benchmarks.scenes import events as ev
    from cloud.models.bench.vlm import weights_metadata

    out = tmp_path / "v2.safetensors"
    train.main(["--recipe", "2", "--device", "cpu", "--stage1-steps", "1", "--stage2-steps", "1",
                "--train-scenes", "2", "--val-scenes", "1", "--batch1", "1", "--batch2", "1", "--workers", "1",
                "--threads", "1", "--max-new", "2", "--log-every", "1", "--out", str(out)])
    meta = weights_metadata(out)
    assert meta["recipe_hash"] == ev.recipe_hash() and meta["recipe"] == "2"
