"""The engine section of benchmarks/gpu.py: ModelRunner vs transformers `generate` on a random model.

The model has a real checkpoint's geometry (Qwen2.5-VL-7B: 28 layers of 3584,
GQA 28/4 heads, a 32-block vision tower with window attention) and random
weights, built directly on the device in the requested dtype, so timing needs
no download. The tokenizer is the byte-level one of cloud/models/tiny.py (its
ids are a subset of the model's vocabulary). Decoding is unconstrained with
the stop tokens masked in both arms, so every request makes exactly
`new_tokens` tokens whatever the random weights prefer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from benchmarks.provenance import interleaved, ratio, summarize


@dataclass(frozen=True)
class Geometry:
    """The shape of a Qwen2.5-VL checkpoint (text model + vision tower)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    mrope_section: tuple[int, int, int]   # sums to head_dim / 2
    vision_depth: int
    vision_hidden: int
    vision_heads: int
    vision_intermediate: int
    fullatt_blocks: tuple[int, ...]
    window: int


# From Qwen/Qwen2.5-VL-7B-Instruct's config.json.
QWEN2_5_VL_7B = Geometry(hidden=3584, layers=28, heads=28, kv_heads=4, intermediate=18944, vocab=152064,
                         mrope_section=(16, 24, 24), vision_depth=32, vision_hidden=1280, vision_heads=16,
                         vision_intermediate=3420, fullatt_blocks=(7, 15, 23, 31), window=112)
# The same code path at test size (CPU tests).
TEST_GEOMETRY = Geometry(hidden=64, layers=3, heads=4, kv_heads=2, intermediate=128, vocab=512,
                         mrope_section=(2, 3, 3), vision_depth=2, vision_hidden=32, vision_heads=2,
                         vision_intermediate=64, fullatt_blocks=(1,), window=56)
PRUNE_LAYER = 2      # ID-Selection's importance layer (PrunerConfig default)


def random_qwen2_5_vl(geometry: Geometry, device: str, dtype, seed: int = 0, image_max_side: int = 1008):
    """A Qwen2_5_VLAdapter over a random-weight model of `geometry`, built on `device` in `dtype`."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter
    from cloud.models.tiny import QWEN_SPECIAL_TOKENS, byte_level_tokenizer

    tok = byte_level_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    g = geometry
    cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=g.vocab, hidden_size=g.hidden, intermediate_size=g.intermediate,
                         num_hidden_layers=g.layers, num_attention_heads=g.heads, num_key_value_heads=g.kv_heads,
                         max_position_embeddings=32768,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                          "mrope_section": list(g.mrope_section)},
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=g.vision_depth, hidden_size=g.vision_hidden, intermediate_size=g.vision_intermediate,
                           num_heads=g.vision_heads, out_hidden_size=g.hidden, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, window_size=g.window, fullatt_block_indexes=list(g.fullatt_blocks)),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)   # initialise in the target dtype: no fp32 copy of 8B weights
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(previous)
    model = model.to(device=device, dtype=dtype).eval()
    return Qwen2_5_VLAdapter(model, tok, image_max_side=image_max_side)


class FreeMatcher:
    """Accepts every token, never completes: the answer runs to its token budget."""

    def accept_token(self, token: int) -> bool:
        return True

    def is_completed(self) -> bool:
        return False


class FreeGrammar:
    stop_token_ids: tuple[int, ...] = ()

    def matcher(self) -> FreeMatcher:
        return FreeMatcher()


class NoStopConstraint:
    """The runner's logits mask without a grammar: only the stop tokens are ruled out."""

    def __init__(self, stop_ids: list[int]):
        self.stop_ids = list(stop_ids)

    def mask(self, logits, matchers, remaining):
        logits = logits.float()
        logits[:, self.stop_ids] = float("-inf")
        return logits


def _images(n: int, side: int, seed: int) -> list:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (side, side, 3), dtype=np.uint8) for _ in range(n)]


def engine_section(geometry: Geometry, device: str, dtype, *, repeats: int, deadline: float,
                   prefill_batch: int = 4, prefill_side: int = 1008, budget: int = 64,
                   decode_batches: tuple[int, ...] = (1, 16), decode_side: int = 448,
                   new_tokens: int = 32, seed: int = 0) -> dict[str, Any]:
    """Prefill with and without ID-Selection; serving B requests: engine vs one-by-one generate."""
    import torch

    from cloud.engine.runner import ModelRunner, PrefillItem
    from cloud.prune import PrunerConfig, build_pruner

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    adapter = random_qwen2_5_vl(geometry, device, dtype, seed=seed, image_max_side=max(prefill_side, decode_side))
    sync()
    out: dict[str, Any] = {"geometry": geometry.__dict__, "dtype": str(dtype).replace("torch.", ""),
                           "attention": adapter.model.config._attn_implementation,
                           "build_s": round(time.perf_counter() - t0, 1), "notes": []}
    stop_ids = adapter.stop_token_ids

    def runner(pruner=None) -> ModelRunner:
        return ModelRunner(adapter, FreeGrammar(), pruner=pruner, constraint=NoStopConstraint(stop_ids))

    def items(n: int, side: int, tag: str) -> list[PrefillItem]:
        return [PrefillItem(f"{tag}{i}", adapter.prepare([img], "Describe the event.", "You watch a camera."),
                            max_new_tokens=new_tokens, camera_id=f"cam{i}")
                for i, img in enumerate(_images(n, side, seed + n))]

    # Prefill: the same requests through a runner without and with ID-Selection.
    pruner = build_pruner(PrunerConfig(method="id_selection", budget=budget, importance_layer=min(
        PRUNE_LAYER, geometry.layers - 1)))
    arms = {"full": runner(), "id_selection": runner(pruner)}
    batch = items(prefill_batch, prefill_side, "p")

    def prefill(r: ModelRunner):
        r.prefill(batch)
        r.release([it.seq_id for it in batch])

    times: dict[str, list[float]] = {a: [] for a in arms}
    for r in arms.values():
        prefill(r)  # warm-up: kernels compile, the system-prompt prefix is cached
    for _, name in interleaved(list(arms), repeats):
        times[name].append(_timed(lambda: prefill(arms[name]), sync))
    visual = {name: _visual_tokens(r, batch) for name, r in arms.items()}
    out["prefill"] = {"requests": prefill_batch, "image_side": prefill_side, "budget": budget,
                      "visual_tokens_per_request": visual,
                      **{f"{a}_ms": summarize(v) for a, v in times.items()},
                      "speedup": ratio(times["full"], times["id_selection"])}

    # Serving B requests to `new_tokens` each: batched engine vs generate() one at a time.
    out["decode"] = {"new_tokens": new_tokens, "image_side": decode_side}
    eng = runner()
    for bsz in decode_batches:
        if time.time() > deadline:
            out["notes"].append(f"decode at batch {bsz} skipped: time budget spent")
            continue
        try:
            out["decode"][str(bsz)] = _serve(adapter, eng, items(bsz, decode_side, f"d{bsz}-"), new_tokens,
                                             repeats, sync, stop_ids)
        except Exception as exc:  # keep the other batch sizes and the prefill numbers
            out["notes"].append(f"decode at batch {bsz} failed: {type(exc).__name__}: {exc}")
    return out


def _serve(adapter, eng, reqs, new_tokens: int, repeats: int, sync, stop_ids: list[int]) -> dict[str, Any]:
    """Serve `reqs` to `new_tokens` each: the engine's batch vs generate() one request at a time."""
    bsz = len(reqs)
    decode_only: list[float] = []

    def serve_engine():
        eng.prefill(reqs)
        sync()
        start = time.perf_counter()
        for _ in range(new_tokens - 1):   # the first token comes from the prefill
            eng.decode()
        sync()
        decode_only.append((time.perf_counter() - start) * 1e3)
        assert all(len(r.tokens) == new_tokens for r in eng.rows)
        eng.release([it.seq_id for it in reqs])

    def serve_generate():
        for it in reqs:
            _generate(adapter, it.prepared, new_tokens, stop_ids)

    arm_fns = {"engine": serve_engine, "generate_one_by_one": serve_generate}
    for fn in arm_fns.values():
        fn()
    decode_only.clear()
    t: dict[str, list[float]] = {a: [] for a in arm_fns}
    for _, name in interleaved(list(arm_fns), repeats):
        t[name].append(_timed(arm_fns[name], sync))
    toks = bsz * new_tokens
    return {**{f"{a}_ms": summarize(v) for a, v in t.items()},
            **{f"{a}_tok_s": summarize(toks / (ms / 1e3) for ms in v) for a, v in t.items()},
            "engine_decode_steps_tok_s": summarize(bsz * (new_tokens - 1) / (ms / 1e3) for ms in decode_only),
            "ratio": ratio(t["generate_one_by_one"], t["engine"])}


def _timed(fn, sync) -> float:
    """Wall milliseconds of fn(), the device drained before and after."""
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - start) * 1e3


def _visual_tokens(r, batch) -> list[int]:
    r.prefill(batch)
    counts = [row.visual_tokens for row in r.rows]
    r.release([it.seq_id for it in batch])
    return counts


def _generate(adapter, prepared, new_tokens: int, stop_ids: list[int]) -> None:
    import torch

    ids = prepared.input_ids[None].to(adapter.device)
    extra = {k: v.to(adapter.device) for k, v in prepared.model_inputs.items()}
    extra["pixel_values"] = extra["pixel_values"].to(adapter.dtype)
    extra["mm_token_type_ids"] = (ids == adapter.image_token_id).int()
    kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
              min_new_tokens=new_tokens, do_sample=False, eos_token_id=stop_ids, pad_token_id=stop_ids[0])
    with torch.inference_mode():
        try:
            out = adapter.model.generate(**kw, **extra)
        except (TypeError, ValueError) as exc:
            if "mm_token_type_ids" not in str(exc):
                raise
            # Older transformers take no mm_token_type_ids (1-D positions then: same cost).
            extra.pop("mm_token_type_ids")
            out = adapter.model.generate(**kw, **extra)
    if out.shape[1] - ids.shape[1] != new_tokens:
        raise RuntimeError(f"generate made {out.shape[1] - ids.shape[1]} tokens, not {new_tokens}")
