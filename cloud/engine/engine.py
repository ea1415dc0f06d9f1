"""DescriptionEngine: the asyncio face of the engine and its one step() loop.

describe(req) runs the CPU-side preparation (boxes drawn, prompt, image
processor, tokenizer) in a worker thread, queues the request with the
scheduler and awaits its future. One model thread runs `step()` in a loop:

    plan = scheduler.schedule(now)            # pure bookkeeping, no torch
    outputs = runner.prefill(admitted)        # or: runner.decode() for every running row
    for each finished row: parse the constrained JSON, resolve its future,
                           scheduler.finish(id), runner.release(id)

The asyncio loop never runs model code; the model thread never touches the
loop except through call_soon_threadsafe.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from cloud.answer.constrained import AnswerError, grammar_for, parse_answer
from cloud.answer.prompting import build_prompt
from cloud.answer.request import DescribeRequest, DescribeResult
from cloud.answer.tidy import tidy_description
from cloud.engine.config import EngineConfig
from cloud.engine.runner import ModelRunner, PrefillItem
from cloud.engine.scheduler import QueueFull, Scheduler, SeqInfo
from cloud.models.base import ModelAdapter, PreparedInputs

log = logging.getLogger(__name__)
IDLE_WAIT_S = 0.05   # how long the idle model thread sleeps between checks for work


class EngineError(RuntimeError):
    """A request could not be described (the message says why)."""


class EngineOverloaded(EngineError):
    """The queue is full: shed the request (or retry later) and slow the edge down."""

    timeout_reason = "overloaded"   # a timeout of the alert, not a model failure (cloud/answer/describe_pump.py)


class DeadlineExceeded(EngineError):
    """The request's deadline passed before it could be served."""

    timeout_reason = "deadline"


@dataclass
class _Pending:
    req: DescribeRequest
    prepared: PreparedInputs
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    submitted: float
    admitted: float = 0.0
    prefill_ms: float = 0.0
    first_token_at: float = 0.0


def _boxes_by_frame(detections: list[dict]) -> dict[int, list[list[float]]]:
    out: dict[int, list[list[float]]] = {}
    for d in detections:
        if "box" in d and len(d["box"]) == 4:
            out.setdefault(int(d.get("frame", 0)), []).append([float(v) for v in d["box"]])
    return out


class DescriptionEngine:
    def __init__(self, config: EngineConfig, adapter: ModelAdapter | None = None,
                 pruner: Any | None = None):
        self.config = config
        self.adapter = adapter
        self.pruner = pruner
        self.runner: ModelRunner | None = None
        self.scheduler = Scheduler(config.scheduling, max_batch_size=config.max_batch_size,
                                   max_prefill_tokens=config.max_prefill_tokens,
                                   max_queue=config.max_queue)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._loaded: concurrent.futures.Future = concurrent.futures.Future()
        self._pending: dict[str, _Pending] = {}
        self._cancelled: set[str] = set()
        self.steps = {"prefill": 0, "decode": 0}

    @property
    def model_name(self) -> str:
        """What the log and the demo call the configured model."""
        return self.config.model or "tiny random Qwen2.5-VL (engine.model: null; descriptions are noise)"

    @property
    def sees_images(self) -> bool:
        """False for a model whose vision side is random: alerts then keep to the edge's measurements."""
        from cloud.models.capability import sees_images
        return sees_images(self.config.model, self.config.family)

    @property
    def writes_narrative(self) -> bool:
        """Whether the grammar asks this model for the narrative: it must see the images (a blind
        model's description is rebuilt from the edge's measurements, cloud/alerts/seeing.py, so its
        narrative would cost decode time and be thrown away) and declare that it writes one
        (`ModelAdapter.writes_narrative`; the benchmark VLM does not)."""
        return self.sees_images and self.adapter is not None and self.adapter.writes_narrative

    @classmethod
    def from_config(cls, config: EngineConfig) -> "DescriptionEngine":
        """An engine for `config`; the model loads in the model thread on start()."""
        return cls(config)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, wait: bool = False) -> "DescriptionEngine":
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="vigil-engine", daemon=True)
            self._thread.start()
        if wait:
            self._loaded.result()
        return self

    async def ready(self) -> None:
        await asyncio.wrap_future(self._loaded)

    def _load(self) -> None:
        import torch

        if self.config.torch_threads:
            torch.set_num_threads(self.config.torch_threads)
        if self.adapter is None:
            from cloud.engine.fit import check_device
            from cloud.models.registry import load_adapter
            check_device(self.config.device, torch.cuda.is_available())
            self.adapter = load_adapter(self.config)
        if self.pruner is None and self.config.pruner.method != "none":
            from cloud.engine.fit import fit_to_adapter
            from cloud.prune import build_pruner
            self.pruner = build_pruner(fit_to_adapter(self.config.pruner, self.adapter))
        kv_press = None
        if self.config.kv.method != "full":
            from cloud.kvcache import build_press
            kv_press = build_press(self.config.kv, self.adapter.language_model, vlm=self.adapter.model,
                                   model=self.config.model, seed=self.config.seed)
        grammar = grammar_for(self.adapter.tokenizer, self.adapter.vocab_size,
                              stop_token_ids=self.adapter.stop_token_ids, narrative=self.writes_narrative)
        shortest = grammar.shortest_answer_tokens()
        if self.config.max_new_tokens < shortest:
            # Every answer would be cut (and fail): say so once, at start, not per request.
            raise ValueError(f"engine.max_new_tokens {self.config.max_new_tokens} cannot hold the shortest answer "
                             f"in this model's vocabulary ({shortest} tokens with the closing reserve)")
        self.runner = ModelRunner(self.adapter, grammar, pruner=self.pruner,
                                  close_reserve=self.config.close_reserve,
                                  temperature=self.config.temperature, seed=self.config.seed,
                                  prefix_cache=self.config.prefix_cache, kv_press=kv_press)
        if self.config.speculative.mode != "off":
            from cloud.speculative import build_speculator
            self.runner.speculator = build_speculator(self.config.speculative, self.adapter)

    def _main(self) -> None:
        try:
            self._load()
        except BaseException as exc:  # surfaced to every describe() and start(wait=True)
            log.exception("engine failed to load its model")
            self._loaded.set_exception(EngineError(f"model failed to load: {exc}"))
            return
        self._loaded.set_result(True)
        while not self._stop:
            try:
                busy = self.step()
            except Exception:  # a bookkeeping bug must not leave callers waiting forever
                log.exception("engine step crashed; failing the running requests")
                self._fail_running()
                busy = True
            if not busy:
                self._wake.wait(IDLE_WAIT_S)
                self._wake.clear()

    def _fail_running(self) -> None:
        with self._lock:
            running = list(self.scheduler.running)
        running += [r.seq_id for r in self.runner.rows if r.seq_id not in running]
        try:
            self._retire(running, error=EngineError("engine step crashed"))
        except Exception:  # the runner itself is broken: start its batch afresh
            log.exception("could not release rows; resetting the running batch")
            self.runner.release([r.seq_id for r in self.runner.rows])

    async def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
        with self._lock:
            pending, self._pending = self._pending, {}
        for p in pending.values():
            self._resolve(p, error=EngineError("engine closed"))

    # -- the asyncio side ----------------------------------------------------------------
    def backpressure(self) -> float:
        """0..1 from queue depth vs capacity (1 = describe() refuses new requests)."""
        with self._lock:
            return self.scheduler.backpressure()

    def stats(self) -> dict:
        """Queue and batch occupancy, for logs and metrics."""
        with self._lock:
            return {"waiting": len(self.scheduler.waiting), "running": len(self.scheduler.running),
                    "backpressure": self.scheduler.backpressure(), "steps": dict(self.steps),
                    "speculative": (self.runner.speculator.stats.summary()
                                    if self.runner is not None and self.runner.speculator else None),
                    # tensor sizes only (metadata): safe to read while the engine thread steps
                    "kv_bytes": self.runner.kv.nbytes() if self.runner is not None else 0}

    async def describe(self, req: DescribeRequest) -> DescribeResult:
        if self._thread is None:
            raise EngineError("engine not started")
        await self.ready()
        if not req.images:
            raise EngineError(f"{req.request_id}: no image")
        if len(req.images) > self.config.max_images_per_request:  # keep the latest frames
            dropped = len(req.images) - self.config.max_images_per_request
            req = replace(req, images=req.images[dropped:],
                          detections=[{**d, "frame": int(d.get("frame", 0)) - dropped}
                                      for d in req.detections if int(d.get("frame", 0)) >= dropped])
        loop = asyncio.get_running_loop()
        submitted = time.time()
        try:
            prepared = await loop.run_in_executor(None, self._prepare, req)
        except Exception as exc:
            raise EngineError(f"{req.request_id}: bad request: {exc}") from exc
        pending = _Pending(req, prepared, loop.create_future(), loop, submitted)
        with self._lock:
            if self._stop:
                raise EngineError(f"{req.request_id}: engine closed")
            if req.request_id in self._pending:
                raise EngineError(f"{req.request_id}: already being described")
            try:
                self.scheduler.add(SeqInfo(
                    seq_id=req.request_id, camera_id=req.camera_id,
                    prompt_tokens=int(prepared.input_ids.numel()), arrival=submitted,
                    severity=float(req.severity), deadline=req.deadline))
            except QueueFull as exc:
                raise EngineOverloaded(str(exc)) from exc
            self._pending[req.request_id] = pending
        self._wake.set()
        try:
            return await pending.future
        except asyncio.CancelledError:
            with self._lock:
                if self._pending.pop(req.request_id, None) is not None:
                    if req.request_id in self.scheduler.waiting:
                        self.scheduler.cancel(req.request_id)
                    else:
                        self._cancelled.add(req.request_id)
            raise

    def _prepare(self, req: DescribeRequest) -> PreparedInputs:
        guided = build_prompt(req, draw_boxes=self.config.draw_boxes, fixed=self.adapter.fixed_prompt)
        return self.adapter.prepare(guided.images, guided.user, guided.system)

    # -- the model thread ----------------------------------------------------------------
    def step(self) -> bool:
        """One engine step; False when there was nothing to do."""
        now = time.time()
        with self._lock:
            plan = self.scheduler.schedule(now)
            expired = [self._pending.pop(i) for i in plan.expired if i in self._pending]
            batch = plan.batch
            cancelled, self._cancelled = self._cancelled, set()
        for p in expired:
            self._resolve(p, error=DeadlineExceeded(f"{p.req.request_id}: deadline passed in queue"))
        if cancelled:
            self._retire(sorted(cancelled))
        if batch is None:
            return bool(expired or cancelled)
        self.steps[batch.kind] += 1
        try:
            if batch.kind == "prefill":
                with self._lock:
                    items = [self._pending[i] for i in batch.seq_ids if i in self._pending]
                for p in items:
                    p.admitted = now
                outputs, failed = self.runner.prefill([
                    PrefillItem(p.req.request_id, p.prepared, self.config.max_new_tokens,
                                camera_id=p.req.camera_id,
                                boxes_by_frame=_boxes_by_frame(p.req.detections))
                    for p in items])
                done_at = time.time()
                for seq_id, exc in failed.items():
                    self._retire([seq_id], error=EngineError(f"{seq_id}: could not encode: {exc}"))
                for p in items:
                    p.prefill_ms = (done_at - now) * 1e3
                    p.first_token_at = done_at
            else:
                outputs = self.runner.decode()
        except Exception as exc:
            log.exception("engine step failed (%s of %d)", batch.kind, len(batch.seq_ids))
            self._retire(list(batch.seq_ids), error=EngineError(f"model step failed: {exc}"))
            return True
        finished = [o.seq_id for o in outputs if o.finished]
        if finished:
            self._retire(finished)
        return True

    def _retire(self, seq_ids: list[str], error: Exception | None = None) -> None:
        """Release rows, tell the scheduler, resolve futures (result or error)."""
        states = {s.seq_id: s for s in self.runner.release(seq_ids)}
        now = time.time()
        for seq_id in seq_ids:
            with self._lock:
                if seq_id in self.scheduler.running:
                    self.scheduler.finish(seq_id)
                else:
                    self.scheduler.cancel(seq_id)
                pending = self._pending.pop(seq_id, None)
            state = states.get(seq_id)
            if pending is None:
                continue
            if error is not None or state is None:
                self._resolve(pending, error=error or EngineError(f"{seq_id}: lost its batch row"))
                continue
            text = self.runner.text_of(state)
            try:
                description = tidy_description(parse_answer(text))
            except AnswerError as exc:
                self._resolve(pending, error=EngineError(f"{seq_id}: {exc}"))
                continue
            self._resolve(pending, result=DescribeResult(
                request_id=seq_id, text=description.model_dump_json(), raw_text=text,
                description=description,
                prompt_tokens=state.prompt_tokens, visual_tokens=state.visual_tokens,
                generated_tokens=len(state.tokens),
                queue_ms=(pending.admitted - pending.submitted) * 1e3,
                prefill_ms=pending.prefill_ms,
                decode_ms=(now - pending.first_token_at) * 1e3,
                visual_tokens_before_prune=state.visual_tokens_before_prune))

    @staticmethod
    def _resolve(p: _Pending, result: DescribeResult | None = None,
                 error: Exception | None = None) -> None:
        def settle():
            if p.future.done():
                return
            if error is not None:
                p.future.set_exception(error)
            else:
                p.future.set_result(result)
        try:
            p.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the caller's loop is closed; nobody is waiting
            pass
