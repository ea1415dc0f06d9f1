"""The benchmark VLM trainer's pure parts: per-patch targets and the teacher-forced batch layout."""
from types import SimpleNamespace

import numpy as np
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
