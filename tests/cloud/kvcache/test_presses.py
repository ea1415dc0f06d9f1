"""Presses through the engine's runner on tiny LLaVA/Llama and Qwen2.5-VL models."""
import pytest
import torch

from cloud.answer.constrained import grammar_for
from cloud.engine.runner import ModelRunner, PrefillItem
from cloud.kvcache import build_press
from cloud.kvcache.batch import RaggedBatchKV
from cloud.kvcache.config import KVCacheConfig
from cloud.kvcache.ragged import RaggedLayer

from .conftest import images, mixed_profile

PROMPT = "Describe the event as JSON."
SYSTEM = "You watch a security camera and answer in JSON, briefly and precisely, always."
METHODS = ["hybridkv", "uniform", "snapkv", "streaming_llm"]


def _press(adapter, method, budget, **kw):
    cfg = KVCacheConfig(method=method, budget=budget, chunk_size=4, **kw)
    return build_press(cfg, adapter.language_model, profile=mixed_profile(adapter))


def _items(adapter, n, frames=2):
    return [PrefillItem(f"s{i}", adapter.prepare(images(frames, seed=i), PROMPT + " Be short." * i, SYSTEM), 24)
            for i in range(n)]


def _generate(adapter, press, items, prefix_cache=True):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    runner = ModelRunner(adapter, grammar, kv_press=press, prefix_cache=prefix_cache)
    outs, failed = runner.prefill(items)
    assert not failed
    tokens = {o.seq_id: [o.token] for o in outs}
    done = {o.seq_id for o in outs if o.finished}
    runner.release(list(done))
    while runner.rows:
        outs = runner.decode()
        for o in outs:
            tokens[o.seq_id].append(o.token)
        runner.release([o.seq_id for o in outs if o.finished])
    return tokens, runner


@pytest.mark.parametrize("family", ["llava", "qwen"])
@pytest.mark.parametrize("method", METHODS)
def test_full_budget_equals_the_full_cache_token_for_token(request, family, method):
    adapter = request.getfixturevalue(family)
    items = _items(adapter, 2)
    full, _ = _generate(adapter, None, items)
    press = _press(adapter, method, 1.0)
    assert _generate(adapter, press, _items(adapter, 2))[0] == full


def test_compressed_cache_holds_fewer_bytes_per_head_and_counts_them_exactly(llava):
    press = _press(llava, "hybridkv", 0.25)
    grammar = grammar_for(llava.tokenizer, llava.vocab_size, stop_token_ids=llava.stop_token_ids)
    dense = ModelRunner(llava, grammar, prefix_cache=False)
    ragged = ModelRunner(llava, grammar, kv_press=press, prefix_cache=False)
    dense.prefill(_items(llava, 2, frames=3))
    ragged.prefill(_items(llava, 2, frames=3))
    assert isinstance(ragged.kv, RaggedBatchKV)
    held = 0
    for layer in ragged.kv.cache.layers:
        assert isinstance(layer, RaggedLayer)
        assert len(set(layer.head_tokens())) > 1 or layer.chunks   # heads differ in what they hold
        for h in range(layer.n_heads):
            s, n = layer.starts[h], layer.lengths[h]
            held += layer.keys[:, s:s + n].nbytes + layer.values[:, s:s + n].nbytes
        held += sum(c.keys.nbytes + c.values.nbytes + c.summaries.nbytes for c in layer.chunks.values())
    assert ragged.kv.nbytes() == held
    assert held < 0.9 * dense.kv.nbytes()    # tiny model: text dominates its prompt
    # The bytes are really gone: the allocation itself is smaller, not a mask over it.
    assert ragged.kv.allocated_nbytes() < dense.kv.nbytes()


@pytest.mark.parametrize("family", ["llava", "qwen"])
def test_batched_decode_with_per_head_lengths_equals_one_at_a_time(request, family):
    adapter = request.getfixturevalue(family)
    press = _press(adapter, "hybridkv", 0.3)
    items = _items(adapter, 3)
    batched, _ = _generate(adapter, press, items)
    for item in _items(adapter, 3):
        alone, _ = _generate(adapter, _press(adapter, "hybridkv", 0.3), [item])
        assert alone[item.seq_id] == batched[item.seq_id]


def _step(adapter, kv, tokens, positions):
    last = torch.tensor([[t] for t in tokens])
    pos = torch.tensor(positions).view(1, -1, 1).expand(adapter.position_rows, -1, 1)
    return adapter.forward(adapter.embed_tokens(last), pos, kv.grow(), kv.cache)


def _compressed(adapter, press, items):
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    runner = ModelRunner(adapter, grammar, kv_press=press, prefix_cache=False)
    runner.prefill(items)
    return runner


@pytest.mark.parametrize("family", ["llava", "qwen"])
def test_rollback_leaves_the_cache_as_if_the_tokens_were_never_decoded(request, family):
    adapter = request.getfixturevalue(family)
    drafted = [[40, 41, 42], [50, 51, 52]]
    accepted = [2, 1]                          # row 0 keeps 2 drafted tokens, row 1 keeps 1
    rolled = _compressed(adapter, _press(adapter, "hybridkv", 0.3), _items(adapter, 2))
    starts = [r.next_position for r in rolled.rows]
    # k tokens per row in one verify-like pass, then per-row rollback of the rejected tail
    k = len(drafted[0])
    pos = torch.stack([torch.arange(p, p + k) for p in starts])[None].expand(adapter.position_rows, -1, -1)
    emb = adapter.embed_tokens(torch.tensor(drafted))
    rolled.kv.mask = torch.cat([rolled.kv.mask, rolled.kv.mask.new_ones(2, k)], 1)
    adapter.forward(emb, pos, rolled.kv.mask, rolled.kv.cache, last=k)
    rolled.kv.truncate_rows([k - a for a in accepted])
    after = _step(adapter, rolled.kv, [7, 7], [p + a for p, a in zip(starts, accepted)])
    for row, (a, p) in enumerate(zip(accepted, starts)):
        never = _compressed(adapter, _press(adapter, "hybridkv", 0.3), [_items(adapter, 2)[row]])
        for i in range(a):
            _step(adapter, never.kv, [drafted[row][i]], [p + i])
        ref = _step(adapter, never.kv, [7], [p + a])
        assert torch.allclose(after[row], ref[0], atol=1e-4), (row, (after[row] - ref[0]).abs().max())
        for mine, theirs in zip(rolled.kv.cache.layers, never.kv.cache.layers):
            for h in range(mine.n_heads):
                k_mine, _ = mine.row_tokens(h, row)
                k_ref, _ = theirs.row_tokens(h, 0)
                assert k_mine.shape == k_ref.shape         # same tokens held, none left over
                assert torch.allclose(k_mine, k_ref, atol=1e-5)
    assert rolled.kv.nbytes() == sum(layer.nbytes() for layer in rolled.kv.cache.layers)


def test_dynamic_heads_attend_only_their_retrieved_chunks(llava):
    press = _press(llava, "hybridkv", 0.5, retrieval_ratio=0.5)
    runner = _compressed(llava, press, _items(llava, 1, frames=3))
    layer = next(layer for layer in runner.kv.cache.layers if layer.chunks)
    store = next(iter(layer.chunks.values()))
    assert 1 <= store.retrieve < store.n_chunks
