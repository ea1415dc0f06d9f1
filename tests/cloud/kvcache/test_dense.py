"""DenseBatchKV: rows join and leave a left-padded batch; the slab grows without losing a column."""
import torch
from transformers import DynamicCache

from cloud.kvcache.dense import SLAB_GROW_TOKENS, DenseBatchKV, SlabCache


def _cache(rows, length, layers=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = DynamicCache()
    for i in range(layers):
        c.update(torch.randn(rows, 2, length, 4, generator=g), torch.randn(rows, 2, length, 4, generator=g), i)
    return c


def test_merge_left_pads_and_select_trims_padding_columns():
    kv = DenseBatchKV()
    a, b = _cache(1, 5, seed=1), _cache(2, 3, seed=2)
    kv.merge(a, torch.ones(1, 5, dtype=torch.long))
    kv.merge(b, torch.ones(2, 3, dtype=torch.long))
    assert kv.rows == 3 and kv.length == 5
    assert kv.mask.tolist() == [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]]
    layer = kv.cache.layers[1]
    assert torch.equal(layer.keys[0], a.layers[1].keys[0])
    assert torch.equal(layer.keys[1:, :, 2:], b.layers[1].keys)
    kv.select([2, 1])          # the long row leaves: its two extra columns go with it
    assert kv.length == 3 and kv.mask.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert torch.equal(kv.cache.layers[1].values, b.layers[1].values[[1, 0]])
    kv.select([])
    assert kv.rows == 0 and kv.cache is None


def test_slab_appends_in_place_across_growth_like_concatenation():
    slab, ref = SlabCache(), DynamicCache()
    g = torch.Generator().manual_seed(3)
    first = (torch.randn(2, 2, 7, 4, generator=g), torch.randn(2, 2, 7, 4, generator=g))
    slab.update(*first, 0)
    ref.update(*first, 0)
    for _ in range(SLAB_GROW_TOKENS * 2 + 5):   # forces two reallocations
        step = (torch.randn(2, 2, 1, 4, generator=g), torch.randn(2, 2, 1, 4, generator=g))
        k, v = slab.update(*step, 0)
        rk, rv = ref.update(*step, 0)
        assert torch.equal(k, rk) and torch.equal(v, rv)
    assert slab.get_seq_length() == ref.get_seq_length() == 7 + SLAB_GROW_TOKENS * 2 + 5
