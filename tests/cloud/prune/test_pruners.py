import pytest
import torch

from cloud.prune import PruneContext, PrunerConfig, build_pruner
from cloud.prune.box_prior import box_coverage

METHODS = ["random", "fastv", "divprune", "id_selection"]
PAPER_GAMMA = 20.0  # ID-Selection's own gamma (the default, 0, is plain top-k)


def _ctx(n=64, d=16, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    return PruneContext(visual_embeds=torch.randn(n, d, generator=g),
                        text_attention=torch.rand(n, generator=g), **kw)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("budget,expected", [(16, 16), (1, 1), (0.25, 16), (500, 64)])
def test_budget_respected_and_original_order_kept(method, budget, expected):
    kept = build_pruner(PrunerConfig(method=method, budget=budget)).select(_ctx())
    assert kept.dtype == torch.long and kept.numel() == expected
    assert torch.equal(kept, torch.unique(kept))  # sorted, distinct
    assert 0 <= int(kept.min()) and int(kept.max()) < 64


@pytest.mark.parametrize("method", METHODS + ["none"])
def test_full_budget_keeps_everything(method):
    kept = build_pruner(PrunerConfig(method=method, budget=1.0)).select(_ctx())
    assert torch.equal(kept, torch.arange(64))


def test_per_request_budget_overrides_config():
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=32))
    assert build_pruner(PrunerConfig(method="id_selection", budget=32)).select(_ctx()).numel() == 32
    assert pruner.select(_ctx(budget=8)).numel() == 8


def _clustered():
    """Token 0..9 are near-copies of one direction with the top scores; 10..29 are distinct."""
    g = torch.Generator().manual_seed(1)
    base = torch.randn(16, generator=g)
    dup = base + 0.01 * torch.randn(10, 16, generator=g)
    others = torch.randn(20, 16, generator=g)
    scores = torch.cat([torch.linspace(1.0, 0.9, 10), torch.linspace(0.5, 0.3, 20)])
    return PruneContext(visual_embeds=torch.cat([dup, others]), text_attention=scores)


def test_id_selection_keeps_one_of_a_redundant_cluster_where_fastv_keeps_all():
    ctx = _clustered()
    fastv = build_pruner(PrunerConfig(method="fastv", budget=5)).select(ctx)
    ids = build_pruner(PrunerConfig(method="id_selection", budget=5, importance="text", gamma=PAPER_GAMMA)).select(ctx)
    assert fastv.tolist() == [0, 1, 2, 3, 4]
    assert ids[0] == 0 and (ids < 10).sum() == 1  # the best token, then diverse ones


def test_id_selection_without_suppression_is_importance_top_k():
    ctx = _ctx(n=100, seed=3)
    a = build_pruner(PrunerConfig(method="id_selection", budget=20, gamma=0.0, importance="text")).select(ctx)
    b = build_pruner(PrunerConfig(method="fastv", budget=20)).select(ctx)
    assert torch.equal(a, b)


def test_divprune_spreads_over_clusters():
    centers = torch.eye(8, 32) * 10
    feats = centers.repeat_interleave(6, dim=0) + 0.05 * torch.randn(48, 32, generator=torch.Generator().manual_seed(0))
    kept = build_pruner(PrunerConfig(method="divprune", budget=8)).select(PruneContext(visual_embeds=feats))
    assert sorted((kept // 6).tolist()) == list(range(8))  # one token per cluster


def test_cls_importance_is_used_without_running_the_shallow_pass():
    def never():
        raise AssertionError("text attention should not be computed when [CLS] attention is there")

    n = 50
    cls = torch.zeros(n)
    cls[[3, 17, 40]] = 1.0
    ctx = PruneContext(visual_embeds=torch.randn(n, 8), text_attention=never, cls_attention=cls)
    kept = build_pruner(PrunerConfig(method="id_selection", budget=3)).select(ctx)
    assert kept.tolist() == [3, 17, 40]


def test_missing_importance_signal_is_a_clear_error():
    with pytest.raises(ValueError, match="text_attention or ctx.cls_attention"):
        build_pruner(PrunerConfig(method="id_selection", budget=3)).select(PruneContext(visual_embeds=torch.randn(9, 4)))


def test_box_prior_pulls_selection_into_the_boxes():
    grid = (4, 4)
    prior = box_coverage([(0, 0, 50, 50)], frame_size=(100, 100), grid=grid)  # top-left quadrant
    inside = set(torch.nonzero(prior > 0.99).squeeze(-1).tolist())
    assert inside == {0, 1, 4, 5}
    g = torch.Generator().manual_seed(0)
    ctx = PruneContext(visual_embeds=torch.randn(16, 8, generator=g), text_attention=torch.full((16,), 1.0) + 0.01 * torch.rand(16, generator=g), box_prior=prior)
    plain = set(build_pruner(PrunerConfig(method="fastv", budget=4)).select(ctx).tolist())
    boxed = set(build_pruner(PrunerConfig(method="fastv", budget=4, box_prior_weight=1.0)).select(ctx).tolist())
    assert boxed == inside and plain != inside


def test_box_coverage_pad_geometry_leaves_padding_uncovered():
    # a 200x100 frame padded to 200x200: the frame occupies rows 1..2 of a 4x4 grid
    cover = box_coverage([(0, 0, 200, 100)], frame_size=(200, 100), grid=(4, 4), mode="pad").view(4, 4)
    assert torch.allclose(cover[1:3], torch.ones(2, 4)) and cover[0].sum() == 0 and cover[3].sum() == 0
