"""Drive a ModelRunner to completion (no engine thread): plain greedy vs speculative."""
from __future__ import annotations

import numpy as np

from cloud.answer.constrained import grammar_for
from cloud.engine.runner import ModelRunner, PrefillItem
from cloud.speculative import build_speculator
from cloud.speculative.config import SpeculativeConfig

SYSTEM = "You describe camera events as JSON."


def prepared(adapter, i: int, prompt: str | None = None):
    rng = np.random.default_rng(i)
    img = rng.integers(0, 255, (56 + 8 * (i % 3), 84, 3), dtype=np.uint8)
    text = prompt or f"Event {i}: a person with a red bag near the gate, count {i % 4}. Describe it."
    return adapter.prepare([img], text, SYSTEM)


def run(adapter, prompts, *, spec: SpeculativeConfig | None = None, max_new_tokens: int = 64,
        batch: bool = True, pruner=None, draft_adapter=None, stagger: int = 0):
    """{seq_id: tokens}, speculator (or None). `stagger`: admit one request every N steps."""
    grammar = grammar_for(adapter.tokenizer, adapter.vocab_size, stop_token_ids=adapter.stop_token_ids)
    speculator = None
    if spec is not None and spec.mode != "off":
        speculator = build_speculator(spec, adapter, draft_adapter=draft_adapter)
    runner = ModelRunner(adapter, grammar, pruner=pruner, speculator=speculator, prefix_cache=False)
    items = [PrefillItem(f"r{i}", p, max_new_tokens) for i, p in enumerate(prompts)]
    out = {}
    groups = [items] if batch and not stagger else [[it] for it in items]
    step = 0
    while groups or runner.rows:
        if groups and (not runner.rows or not batch or (stagger and step % stagger == 0)):
            runner.prefill(groups.pop(0))
        else:
            runner.decode()
        step += 1
        done = [r.seq_id for r in runner.rows if r.done]
        for state in runner.release(done):
            out[state.seq_id] = list(state.tokens)
    return out, speculator
