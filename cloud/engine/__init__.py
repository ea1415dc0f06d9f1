"""The cloud description engine: request queue -> scheduler -> model runner.

`DescriptionEngine` (engine.py) is the entry point; `Scheduler` (scheduler.py)
is pure bookkeeping; `ModelRunner` (runner.py) owns the model and the KV.
Names are resolved lazily so `import cloud.engine.scheduler` pulls in neither
torch nor transformers.
"""
from __future__ import annotations

from vigil.lazy import lazy_exports

_EXPORTS = {
    "EngineConfig": "cloud.engine.config",
    "SchedulingPolicy": "cloud.engine.scheduler",
    "DescribeRequest": "cloud.answer.request",
    "DescribeResult": "cloud.answer.request",
    "DescriptionEngine": "cloud.engine.engine",
    "EngineError": "cloud.engine.engine",
    "EngineOverloaded": "cloud.engine.engine",
    "DeadlineExceeded": "cloud.engine.engine",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
