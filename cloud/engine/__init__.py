"""The cloud description engine: request queue -> scheduler -> model runner.

`DescriptionEngine` (engine.py) is the entry point; `Scheduler` (scheduler.py)
is pure bookkeeping; `ModelRunner` (runner.py) owns the model and the KV.
"""
from cloud.engine.config import EngineConfig
from cloud.engine.request import DescribeRequest, DescribeResult

__all__ = ["EngineConfig", "DescribeRequest", "DescribeResult", "DescriptionEngine",
           "EngineError", "EngineOverloaded"]


def __getattr__(name):  # the engine pulls torch; keep `import cloud.engine` light
    if name in ("DescriptionEngine", "EngineError", "EngineOverloaded"):
        from cloud.engine import engine
        return getattr(engine, name)
    raise AttributeError(name)
