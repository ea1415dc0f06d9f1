"""One request, greedy, through the same adapter calls the batched runner makes.

`prefill` runs `adapter.embed` -> pruning (pruning.py) -> `adapter.forward` for one
request (no batching, no shared-prefix cache, no grammar) and reports what the
language model saw; `feed` runs given tokens on top of it (teacher forcing);
`generate` decodes greedily, optionally through a `logits_processor`. It is the
unbatched reference the batched `ModelRunner` is checked against and what
per-request benchmarks time: the adapter code the engine serves, not a copy of it.
Decoding continues after the UNPRUNED prompt length (the largest position + 1),
as if dropped visual tokens were still there (FastV's convention; the runner does
the same).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from cloud.engine.pruning import prune_one
from cloud.models.base import ModelAdapter, PreparedInputs

LogitsProcessor = Callable[[list[int], torch.Tensor], torch.Tensor]


@dataclass
class Prefill:
    logits: torch.Tensor           # [V] next-token logits after the prompt
    cache: Any                     # the language model's KV cache (grows as tokens are fed)
    next_position: int             # position id of the first generated token
    n_visual: int                  # visual tokens before pruning
    n_kept: int                    # visual tokens the language model saw
    seq_len: int                   # prompt tokens the language model prefilled
    kept_positions: torch.Tensor   # [seq_len] original positions of the prefilled tokens
    timings: dict[str, float] = field(default_factory=dict)  # seconds: vision, select, prefill
    fed: int = 0                   # tokens fed after the prompt so far


@torch.inference_mode()
def prefill(adapter: ModelAdapter, prepared: PreparedInputs, pruner: Any | None = None, *,
            stream_id: str | None = None, boxes_by_frame: dict[int, list] | None = None) -> Prefill:
    t0 = time.perf_counter()
    pre = adapter.embed(prepared)
    n_visual = pre.n_visual
    t1 = time.perf_counter()
    pre = prune_one(adapter, pre, prepared, pruner, stream_id=stream_id, boxes_by_frame=boxes_by_frame)
    t2 = time.perf_counter()
    cache = adapter.new_cache()
    logits = adapter.forward(pre.inputs_embeds, pre.position_ids, pre.attention_mask, cache)
    t3 = time.perf_counter()
    return Prefill(logits=logits[0], cache=cache, next_position=int(pre.position_ids.max()) + 1,
                   n_visual=n_visual, n_kept=pre.n_visual, seq_len=pre.length,
                   kept_positions=pre.position_ids[0, 0].cpu(),
                   timings={"vision": t1 - t0, "select": t2 - t1, "prefill": t3 - t2})


@torch.inference_mode()
def feed(adapter: ModelAdapter, pre: Prefill, tokens: list[int]) -> torch.Tensor:
    """Run `tokens` after what `pre` has seen; [len(tokens), V] logits, the i-th predicting token i + 1."""
    n = len(tokens)
    device = adapter.device
    start = pre.next_position + pre.fed
    positions = torch.arange(start, start + n, device=device).view(1, 1, n).expand(adapter.position_rows, 1, n)
    mask = torch.ones(1, pre.seq_len + pre.fed + n, dtype=torch.long, device=device)
    embeds = adapter.embed_tokens(torch.tensor([tokens], device=device))
    logits = adapter.forward(embeds, positions, mask, pre.cache, last=n)
    pre.fed += n
    return logits.reshape(n, -1)


def generate(adapter: ModelAdapter, prepared: PreparedInputs, max_new_tokens: int, pruner: Any | None = None,
             logits_processor: LogitsProcessor | None = None, **prefill_kw) -> tuple[list[int], Prefill]:
    """Greedy decoding; `logits_processor(generated_ids, logits) -> logits` may constrain it."""
    pre = prefill(adapter, prepared, pruner, **prefill_kw)
    stop = set(adapter.stop_token_ids)
    logits, out = pre.logits, []
    for _ in range(max_new_tokens):
        if logits_processor is not None:
            logits = logits_processor(out, logits)
        tok = int(torch.argmax(logits))
        out.append(tok)
        if tok in stop:
            break
        logits = feed(adapter, pre, [tok])[0]
    return out, pre
