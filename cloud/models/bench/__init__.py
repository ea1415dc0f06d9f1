"""Benchmark-only models: `vigil-bench-vlm` (vlm.py, its question in prompt.py, its trained vision side in
weights/). The product's registry loads them only by name (models/registry.py: BUILT_MODELS); nothing
else in cloud/ imports them."""
