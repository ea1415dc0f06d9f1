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
