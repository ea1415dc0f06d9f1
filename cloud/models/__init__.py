"""Model adapters: one small file per VLM family behind `ModelAdapter` (base.py).

`registry.load_adapter(EngineConfig)` picks and loads one; `tiny.py` builds
random-init models in code for offline tests.
"""
