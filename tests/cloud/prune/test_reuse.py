import torch

from cloud.prune import PruneContext, PrunerConfig, build_pruner


class CountingAttention:
    def __init__(self, scores):
        self.scores, self.calls = scores, 0

    def __call__(self):
        self.calls += 1
        return self.scores


def _pruner(**kw):
    return build_pruner(PrunerConfig(method="id_selection", budget=8, importance="text",
                                     reuse_across_frames=True, **kw))


def test_static_scene_reuses_selection_and_skips_the_shallow_pass():
    frame = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    pruner = _pruner()
    att = CountingAttention(torch.rand(64))
    first = pruner.select(PruneContext(visual_embeds=frame, text_attention=att, stream_id="cam1"))
    still = frame + 1e-3 * torch.randn(64, 16)
    att2 = CountingAttention(torch.rand(64))
    second = pruner.select(PruneContext(visual_embeds=still, text_attention=att2, stream_id="cam1"))
    assert pruner.last_reused and torch.equal(first, second)
    assert att.calls == 1 and att2.calls == 0


def test_scene_change_other_camera_or_budget_forces_a_new_selection():
    g = torch.Generator().manual_seed(1)
    frame = torch.randn(64, 16, generator=g)
    pruner = _pruner()
    pruner.select(PruneContext(visual_embeds=frame, text_attention=torch.rand(64), stream_id="cam1"))
    pruner.select(PruneContext(visual_embeds=torch.randn(64, 16, generator=g), text_attention=torch.rand(64), stream_id="cam1"))
    assert not pruner.last_reused
    pruner.select(PruneContext(visual_embeds=frame, text_attention=torch.rand(64), stream_id="cam2"))
    assert not pruner.last_reused
    pruner.select(PruneContext(visual_embeds=frame, text_attention=torch.rand(64), stream_id="cam2", budget=4))
    assert not pruner.last_reused


def test_reuse_is_refreshed_after_max_frames():
    frame = torch.randn(32, 8)
    pruner = _pruner(reuse_max_frames=3)
    reused = []
    for _ in range(7):
        pruner.select(PruneContext(visual_embeds=frame, text_attention=torch.rand(32), stream_id="c"))
        reused.append(pruner.last_reused)
    assert reused == [False, True, True, False, True, True, False]


def test_reuse_off_by_default():
    frame = torch.randn(32, 8)
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=4, importance="text"))
    for _ in range(2):
        pruner.select(PruneContext(visual_embeds=frame, text_attention=torch.rand(32), stream_id="c"))
    assert not pruner.last_reused
