"""The benchmark's per-arm pruner routing: each request really gets its arm's selection.

The engine selects a prefill batch at a time (`select_batch`), so the routing must hold there too:
a routing pruner that only overrode `select` once left every arm unpruned.
"""
import torch

from benchmarks.scenes.evaluate import KeepListPruner, RoutingPruner
from cloud.prune import PruneContext, PrunerConfig, build_pruner


def _ctx(stream_id: str, n: int = 576) -> PruneContext:
    g = torch.Generator().manual_seed(len(stream_id))
    return PruneContext(visual_embeds=torch.randn(n, 8, generator=g), stream_id=stream_id)


def test_routing_applies_each_arms_selection_in_a_batch():
    keep = {"outside|0": torch.tensor([3, 5, 7]), "outside|1": torch.tensor([1])}
    router = RoutingPruner({"none": None, "outside": KeepListPruner(keep),
                            "random@16": build_pruner(PrunerConfig(method="random", budget=16))})
    ctxs = [_ctx("none|0"), _ctx("outside|0"), _ctx("random@16|0"), _ctx("outside|1"), _ctx("random@16|1")]
    kept = router.select_batch(ctxs)
    assert len(kept[0]) == 576
    assert kept[1].tolist() == [3, 5, 7] and kept[3].tolist() == [1]
    assert len(kept[2]) == 16 and len(kept[4]) == 16
    assert router.select(_ctx("outside|0")).tolist() == [3, 5, 7]


def test_keys_are_asked_for_and_reach_only_the_arms_that_compare_keys():
    keys_arm = build_pruner(PrunerConfig(method="id_selection", importance="cls", budget=4, gamma=50.0,
                                         similarity="keys"))
    div = build_pruner(PrunerConfig(method="divprune", budget=4))
    assert RoutingPruner({"d": div}).config.similarity == "embeds"
    router = RoutingPruner({"k": keys_arm, "d": div})
    assert router.config.similarity == "keys"   # the adapter offers keys only when asked
    seen = {}
    keys_arm.select_batch = lambda cs: (seen.__setitem__("k", cs), [torch.arange(4) for _ in cs])[1]
    div.select_batch = lambda cs: (seen.__setitem__("d", cs), [torch.arange(4) for _ in cs])[1]
    ctx = lambda sid: PruneContext(visual_embeds=torch.randn(16, 8), keys=torch.randn(16, 4), stream_id=sid)
    router.select_batch([ctx("k|0"), ctx("d|0")])
    assert seen["k"][0].keys is not None and seen["d"][0].keys is None
