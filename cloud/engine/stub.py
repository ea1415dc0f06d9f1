"""A model-free engine for delivery tests, load tests and sites without a GPU: ``engine.model: "stub:<seconds>"``.

It waits a fixed time per request (concurrently, like a batched server) and answers a
schema-valid description built from the edge's hints, so what is measured is ingest, the
alert pipeline and delivery, not a model. Never the default: it describes nothing it sees.
"""
from __future__ import annotations

import asyncio

from cloud.answer.narrative import narrative_from_fields
from cloud.answer.request import DescribeRequest, DescribeResult
from cloud.answer.schema import MAX_LABEL_CHARS, MAX_OBJECTS, MAX_SUMMARY_CHARS, EventDescription, ObjectCount

STUB_PREFIX = "stub:"
MAX_COUNT = 99            # ObjectCount.count's bound
HIGH_SEVERITY = 0.7       # threat level 2 at or above
MEDIUM_SEVERITY = 0.3     # threat level 1 at or above


def stub_latency(model: str | None) -> float | None:
    """Seconds per request when ``model`` names the stub engine, else None."""
    if not model or not model.startswith(STUB_PREFIX):
        return None
    try:
        latency = float(model[len(STUB_PREFIX):] or 0.0)
    except ValueError:
        raise ValueError(f"engine.model: {model!r} must be 'stub:<seconds>', e.g. 'stub:0.3'") from None
    if latency < 0:
        raise ValueError(f"engine.model: {model!r}: latency must be >= 0")
    return latency


class FixedLatencyEngine:
    model_name = "stub"
    sees_images = False   # it builds its answer from the edge's hints

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.requests = 0

    def backpressure(self) -> float:
        return 0.0

    async def describe(self, req: DescribeRequest) -> DescribeResult:
        self.requests += 1
        await asyncio.sleep(self.latency_s)
        counts = req.hints.get("counts") or {}
        objs = [ObjectCount(label=str(k)[:MAX_LABEL_CHARS] or "object", count=min(MAX_COUNT, int(v)))
                for k, v in list(counts.items())[:MAX_OBJECTS]]
        threat = 2 if req.severity >= HIGH_SEVERITY else (1 if req.severity >= MEDIUM_SEVERITY else 0)
        desc = EventDescription(summary=f"{sum(o.count for o in objs)} object(s) on {req.camera_id}"[:MAX_SUMMARY_CHARS],
                                threat_level=threat, objects=objs, action="moving")
        desc = desc.model_copy(update={"narrative": narrative_from_fields(desc.model_dump())})
        return DescribeResult(request_id=req.request_id, text=desc.model_dump_json(), description=desc,
                              prompt_tokens=0, visual_tokens=0, generated_tokens=0, queue_ms=0.0,
                              prefill_ms=0.0, decode_ms=self.latency_s * 1000)
