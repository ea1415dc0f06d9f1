"""Top-down KV budget allocation (HybridKV, arXiv 2604.05887): total -> layers -> heads.

Pure arithmetic on plain lists (no torch), so it is tested as bookkeeping.
A budget of `total` visual tokens (summed over every layer and KV head) is split
first among layers in proportion to the summed need of their heads, then inside each
layer among its heads in proportion to each head's need. "Need" comes from the head
profile (cloud/kvcache/head_profile.py): the share of visual tokens a head attended to over
decoding, so a dynamic head, whose focus moves, gets more than a static one. No head
may hold more than `cap` tokens (the visual tokens there are): the excess of a capped
head is refilled to the others (water-filling), and integer rounding goes by largest
remainder, so the parts always sum to the whole.
"""
from __future__ import annotations

from typing import Sequence

# A head with no measured need still gets this share of an even split: a zero weight would
# starve it for good, and a calibration set can miss what a head looks at.
MIN_WEIGHT_SHARE = 0.1


def split(total: int, weights: Sequence[float], cap: Sequence[int]) -> list[int]:
    """Integers summing to min(total, sum(cap)), proportional to `weights`, each <= its cap."""
    n = len(weights)
    total = max(0, min(int(total), int(sum(cap))))
    if n == 0 or total == 0:
        return [0] * n
    mean = sum(weights) / n if sum(weights) > 0 else 1.0
    w = [max(float(x), MIN_WEIGHT_SHARE * mean) for x in weights]
    out = [0.0] * n
    free = set(range(n))
    left = float(total)
    while free and left > 1e-9:
        wsum = sum(w[i] for i in free)
        share = {i: left * w[i] / wsum for i in free}
        over = [i for i in free if out[i] + share[i] >= cap[i]]
        if not over:
            for i in free:
                out[i] += share[i]
            break
        for i in over:            # fill the capped heads, refill the rest next round
            left -= cap[i] - out[i]
            out[i] = float(cap[i])
            free.discard(i)
    floors = [min(int(x), cap[i]) for i, x in enumerate(out)]
    rest = total - sum(floors)
    order = sorted(range(n), key=lambda i: out[i] - floors[i], reverse=True)
    for i in order:
        if rest <= 0:
            break
        if floors[i] < cap[i]:
            floors[i] += 1
            rest -= 1
    return floors


def allocate(total: int, need: Sequence[Sequence[float]], cap: int) -> list[list[int]]:
    """Per-(layer, head) token budgets: `total` split by layer need, then by head need."""
    layers = split(total, [sum(row) for row in need], [cap * len(row) for row in need])
    return [split(t, row, [cap] * len(row)) for t, row in zip(layers, need)]


def uniform(total: int, layers: int, heads: int, cap: int) -> list[list[int]]:
    """The same budget for every head (the no-classification baseline)."""
    return allocate(total, [[1.0] * heads for _ in range(layers)], cap)
