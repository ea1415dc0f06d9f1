"""ModelRunner: batched prefill and batched decode steps under the JSON grammar.

The runner owns the model (through a ModelAdapter), the running batch's KV
(a `BatchKV`: left-padded rows, dense or a press's own) and one xgrammar matcher
per sequence. Its plug-ins meet it at the seams of cloud/seams.py. It makes no
scheduling decisions: the engine tells it which requests to prefill,
when to run a decode step, and which finished rows to release.

prefill(items): per request, vision tower + projector (`adapter.embed`), then
  the optional token pruner between projector and LM (pruning.py), over every image of the
  batch in one call (one batched selection launch on the GPU; kept visual
  tokens keep their original positions), then ONE language-model forward over all new
  requests, left-padded; the first answer token of each comes from that pass.
  Prompts starting with the shared system prompt prefill only their suffix on
  top of its cached KV (prefix.py). The new rows then join the running batch's
  cache.
decode(): ONE forward over every running row (its last token, its next
  position), the batch's logits masked row by row by the matchers, one token
  per row; with a speculator, one draft-and-verify step instead
  (cloud/speculative/decode.py), the speculator keeping each row's state.
snapshot()/fork(): a copy of the running batch and a runner over it, so a
  benchmark decodes several arms from one prefill.
Padding-based batching is the CPU-friendly form of continuous batching: no
paged attention, but one weight read serves every running request, which is
what makes batched decode faster than one-at-a-time generate() on a
memory-bound machine.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from cloud.answer.constrained import BatchConstraint, JsonGrammar
from cloud.engine.prefix import PrefixCache, build_prefix
from cloud.engine.pruning import prune_batch
from cloud.kvcache.dense import DenseBatchKV
from cloud.models.base import ModelAdapter, PrefillInputs, PreparedInputs
from cloud.seams import BatchKV, KVPress, Pruner, Speculator, StepOutput
from cloud.speculative.decode import speculative_step


@dataclass
class PrefillItem:
    seq_id: str
    prepared: PreparedInputs
    max_new_tokens: int
    camera_id: str | None = None
    # The edge's boxes per frame index, in that frame's pixels (importance prior for pruning).
    boxes_by_frame: dict[int, list[list[float]]] = field(default_factory=dict)


@dataclass
class RowState:
    seq_id: str
    matcher: Any
    next_position: int
    max_new_tokens: int
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    visual_tokens: int = 0
    visual_tokens_before_prune: int = 0
    done: bool = False
    prepared: Any = None   # the request's PreparedInputs (drafters read the prompt from it)


class ModelRunner:
    def __init__(self, adapter: ModelAdapter, grammar: JsonGrammar, *, pruner: Pruner | None = None,
                 close_reserve: int = 0, temperature: float = 0.0, seed: int = 0,
                 kv_press: KVPress | None = None, prefix_cache: bool = True,
                 speculator: Speculator | None = None, constraint: Any | None = None):
        self.adapter = adapter
        self.grammar = grammar
        # Masks each step's logits (`mask(logits, matchers, remaining)`); default: the grammar's.
        self.constraint = constraint or BatchConstraint(grammar, close_reserve=close_reserve)
        self.pruner = pruner
        self.temperature = temperature
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.kv_press = kv_press
        # A press brings the batch cache its rows live in (one that keeps per-head lengths: its own).
        self.kv: BatchKV = kv_press.batch_kv() if kv_press is not None else DenseBatchKV()
        self.use_prefix_cache = prefix_cache
        self.prefix: PrefixCache | None = None
        self.rows: list[RowState] = []        # row i of the KV batch
        self.stop_ids = set(grammar.stop_token_ids) | set(adapter.stop_token_ids)
        # Draft-and-verify instead of one token per step (the runner runs the step; the
        # speculator keeps each row's speculative state).
        self.speculator = speculator

    # -- helpers -------------------------------------------------------------------------
    def row(self, seq_id: str) -> RowState:
        for r in self.rows:
            if r.seq_id == seq_id:
                return r
        raise KeyError(seq_id)

    def _prune_batch(self, embedded: list[tuple[PrefillItem, PrefillInputs]],
                     failed: dict[str, Exception]) -> list[tuple[PrefillItem, PrefillInputs]]:
        """Prune every request of a prefill batch at once (one batched selection on the GPU);
        a request whose pruning fails goes to `failed`."""
        if self.pruner is None or not embedded:
            return embedded
        results = prune_batch(
            self.adapter, [pre for _, pre in embedded], [item.prepared for item, _ in embedded], self.pruner,
            stream_ids=[item.camera_id for item, _ in embedded],
            boxes_by_frame=[item.boxes_by_frame for item, _ in embedded])
        out = []
        for (item, _), result in zip(embedded, results):
            if isinstance(result, Exception):
                failed[item.seq_id] = result
            else:
                out.append((item, result))
        return out

    def _sample(self, logits: torch.Tensor, rows: list[RowState]) -> list[int]:
        remaining = [r.max_new_tokens - len(r.tokens) for r in rows]
        logits = self.constraint.mask(logits, [r.matcher for r in rows], remaining)
        if self.temperature > 0:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            return torch.multinomial(probs.cpu(), 1, generator=self.generator).squeeze(1).tolist()
        return logits.argmax(dim=-1).tolist()

    def _accept(self, rows: list[RowState], tokens: list[int]) -> list[StepOutput]:
        out = []
        for r, tok in zip(rows, tokens):
            if tok not in self.stop_ids:
                if not r.matcher.accept_token(tok):
                    raise RuntimeError(f"grammar rejected token {tok} for {r.seq_id}")
                r.tokens.append(tok)
            r.done = (tok in self.stop_ids or r.matcher.is_completed()
                      or len(r.tokens) >= r.max_new_tokens)
            out.append(StepOutput(r.seq_id, tok, r.done))
        return out

    # -- prefill -------------------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, items: list[PrefillItem]) -> tuple[list[StepOutput], dict[str, Exception]]:
        """Prefill `items` in one LM pass; a request whose images fail to encode is
        returned in the error dict instead of failing the whole batch."""
        pres, states, failed, embedded, n_before = [], [], {}, [], {}
        for item in items:
            try:
                pre = self.adapter.embed(item.prepared)
            except Exception as exc:  # this request only
                failed[item.seq_id] = exc
                continue
            embedded.append((item, pre))
            n_before[item.seq_id] = pre.n_visual
        for item, pre in self._prune_batch(embedded, failed):
            pres.append(pre)
            states.append(RowState(
                seq_id=item.seq_id, matcher=self.grammar.matcher(),
                next_position=int(pre.position_ids.max()) + 1, max_new_tokens=item.max_new_tokens,
                prompt_tokens=pre.length, visual_tokens=pre.n_visual,
                visual_tokens_before_prune=n_before[item.seq_id], prepared=item.prepared))
        if not pres:
            return [], failed
        if self.use_prefix_cache and self.prefix is None:
            self.prefix = build_prefix(self.adapter, pres[0])
        # Prompts that start with the cached prefix prefill only their suffix.
        shared = [i for i, p in enumerate(pres) if self.prefix is not None and self.prefix.matches(p)]
        alone = [i for i in range(len(pres)) if i not in set(shared)]
        order, logits_parts, caches = [], [], []
        for group, prefix in ((shared, self.prefix), (alone, None)):
            if not group:
                continue
            group_pres = [pres[i] for i in group]
            logits, cache, mask = self._prefill_group(group_pres, prefix)
            if self.kv_press is not None:
                mask = self.kv_press.after_prefill(cache, mask, group_pres)
            order += group
            logits_parts.append(logits)
            caches.append((cache, mask))
        states = [states[i] for i in order]
        tokens = self._sample(torch.cat(logits_parts), states)
        # Rows join the batch only once every forward succeeded (KV rows == self.rows).
        for cache, mask in caches:
            self.kv.merge(cache, mask)
        self.rows.extend(states)
        return self._accept(states, tokens), failed

    def _prefill_group(self, pres: list[PrefillInputs], prefix: PrefixCache | None):
        """One LM forward over `pres` (left-padded), on top of `prefix` if given."""
        if prefix is None:
            embeds, positions, mask = left_pad_batch(pres)
            cache = self.adapter.new_cache()
            return self.adapter.forward(embeds, positions, mask, cache), cache, mask
        p = prefix.length
        suffixes = [pre.select(torch.arange(p, pre.length, device=pre.inputs_embeds.device))
                    for pre in pres]
        embeds, positions, suffix_mask = left_pad_batch(suffixes)
        cache = prefix.cache_for(len(pres), self.adapter.new_cache)
        mask = torch.cat([suffix_mask.new_ones(len(pres), p), suffix_mask], dim=1)
        return self.adapter.forward(embeds, positions, mask, cache), cache, mask

    # -- decode --------------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self) -> list[StepOutput]:
        if not self.rows:
            return []
        if self.speculator is not None:
            return self._speculative_decode()
        device = self.adapter.device
        last = torch.tensor([[r.tokens[-1]] for r in self.rows], device=device)
        positions = torch.tensor([r.next_position + len(r.tokens) - 1 for r in self.rows],
                                 device=device)
        positions = positions.view(1, -1, 1).expand(self.adapter.position_rows, -1, 1)
        mask = self.kv.grow()
        logits = self.adapter.forward(self.adapter.embed_tokens(last), positions, mask, self.kv.cache)
        tokens = self._sample(logits, self.rows)
        return self._accept(self.rows, tokens)

    def _speculative_decode(self) -> list[StepOutput]:
        """One draft-and-verify step over every running row (cloud/speculative/decode.py)."""
        spec = self.speculator
        spec_rows = spec.rows_for(self.rows)
        c = spec.config
        results = speculative_step(
            self.adapter, spec.drafter, spec.verifier, self.kv, spec_rows, self.constraint, self.stop_ids,
            jump_forward=c.jump_forward, position_shift=c.position_shift, encode=self.grammar.encode,
            fill_padding=c.fill_padding, visual=spec.visual)
        out = []
        for r, res in zip(self.rows, results):
            r.done = res.stopped or len(r.tokens) >= r.max_new_tokens
            out.append(StepOutput(r.seq_id, r.tokens[-1] if r.tokens else -1, r.done))
        spec.settle(self.rows, spec_rows, results)
        return out

    def release(self, seq_ids: list[str]) -> list[RowState]:
        """Drop finished rows from the batch; return their states."""
        gone = set(seq_ids)
        keep = [i for i, r in enumerate(self.rows) if r.seq_id not in gone]
        released = [r for r in self.rows if r.seq_id in gone]
        if len(keep) != len(self.rows):
            self.kv.select(keep)
            self.rows = [self.rows[i] for i in keep]
        return released

    def text_of(self, state: RowState) -> str:
        return self.adapter.tokenizer.decode(state.tokens, skip_special_tokens=True)

    # -- measuring from one state ---------------------------------------------------------
    def snapshot(self) -> "RunnerSnapshot":
        """The running batch as it is now (its KV copied), for `fork` (benchmarks decode several arms
        from one prefill). Only the dense batch cache can be copied."""
        if not isinstance(self.kv, DenseBatchKV):
            raise TypeError(f"snapshot needs the dense batch cache, not {type(self.kv).__name__}")
        layers = [(layer.keys.clone(), layer.values.clone()) for layer in self.kv.cache.layers
                  if getattr(layer, "is_initialized", False)]
        return RunnerSnapshot(layers, self.kv.mask.clone(), [replace(r, tokens=list(r.tokens)) for r in self.rows])

    def fork(self, snapshot: "RunnerSnapshot", *, speculator: Speculator | None = None) -> "ModelRunner":
        """A runner over a copy of `snapshot`, decoding with `speculator` (None: one token per step);
        the adapter, grammar, constraint and settings are this runner's, every row's matcher is fresh
        and has accepted the row's tokens."""
        twin = copy.copy(self)
        twin.generator = torch.Generator().manual_seed(self.seed)
        twin.speculator = speculator
        twin.kv = DenseBatchKV()
        twin.kv.merge(_CopiedCache(snapshot.layers), snapshot.mask.clone())   # copies into the decode slab
        twin.rows = []
        for state in snapshot.rows:
            matcher = self.grammar.matcher()
            for tok in state.tokens:
                if not matcher.accept_token(tok):
                    raise RuntimeError(f"grammar rejected token {tok} of {state.seq_id}")
            twin.rows.append(replace(state, matcher=matcher, tokens=list(state.tokens),
                                     done=matcher.is_completed()))
        return twin


@dataclass
class RunnerSnapshot:
    """A running batch at one moment: its dense KV layers (copies), mask and rows."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor
    rows: list[RowState]


class _CopiedLayer:
    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        self.keys, self.values, self.is_initialized = keys, values, True


class _CopiedCache:
    """A snapshot's layers in the shape `DenseBatchKV.merge` reads (`layers[i].keys/values`)."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]]):
        self.layers = [_CopiedLayer(k, v) for k, v in layers]


def left_pad_batch(pres: list[PrefillInputs]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack one-row prefills into [B, L, D] embeds, [P, B, L] positions, [B, L] mask."""
    length = max(p.length for p in pres)
    embeds, positions, masks = [], [], []
    for p in pres:
        pad = length - p.length
        embeds.append(torch.nn.functional.pad(p.inputs_embeds, (0, 0, pad, 0)))
        positions.append(torch.nn.functional.pad(p.position_ids, (pad, 0)))
        masks.append(torch.nn.functional.pad(p.attention_mask, (pad, 0)))
    return torch.cat(embeds), torch.cat(positions, dim=1), torch.cat(masks)
