"""Settings that depend on the loaded model, checked once at start-up (never per request).

A configuration is written before anyone knows which model it will meet: the shipped
``config/cloud.yaml`` enables ID-Selection with importance from LLM layer 2 (the layer
FastV and ID-Selection use), and the offline default model has only two decoder layers.
Each rule here either adapts the setting and says so in the log, or refuses to start
with a message that names the key; the engine applies the result before serving.

Rules:
- ``engine.pruner.importance_layer`` beyond the model's layers, while the pruner reads
  text attention: the deepest existing layer is the closest to the paper's "early
  layer" on a model that shallow, so it is used instead (WARNING names the key).
  Negative layers cannot happen (the config refuses them).
- ``engine.device`` naming CUDA on a machine (or container) without a visible GPU: refused
  before the model loads, with what to do, instead of torch's error from deep in the load.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from cloud.prune.config import PrunerConfig

log = logging.getLogger(__name__)

TEXT_ATTENTION_METHODS = ("fastv", "id_selection")  # pruners that may read early-layer text attention


class ModelMismatch(ValueError):
    """A setting cannot apply to the loaded model; the message names the key."""


@dataclass(frozen=True)
class Adjustment:
    key: str
    configured: object
    used: object
    reason: str

    def message(self) -> str:
        return f"{self.key}={self.configured!r} adapted to {self.used!r}: {self.reason}"


def check_device(device: str, cuda_available: bool) -> None:
    """Refuse a CUDA device that is not there (pure; the engine passes torch.cuda.is_available())."""
    if device.startswith("cuda") and not cuda_available:
        raise ModelMismatch(f"engine.device={device!r} but no CUDA device is visible here; set engine.device: cpu, "
                            "or give the cloud a GPU (compose: COMPOSE_PROFILES=gpu with the NVIDIA Container Toolkit)")


def fit_pruner(cfg: PrunerConfig, *, n_layers: int) -> tuple[PrunerConfig, list[Adjustment]]:
    """The pruner settings this model can run, and what had to change (pure)."""
    if cfg.method not in TEXT_ATTENTION_METHODS:
        return cfg, []
    # "auto" reads text attention whenever the model gives no [CLS] attention, which only a request shows.
    reads_text = cfg.importance != "cls" or cfg.similarity == "keys"
    if not reads_text or cfg.importance_layer < n_layers:
        return cfg, []
    if n_layers < 1:
        raise ModelMismatch(f"engine.pruner.method={cfg.method!r} reads LLM attention, but the model has no "
                            "decoder layers to read it from")
    used = n_layers - 1
    adj = Adjustment("engine.pruner.importance_layer", cfg.importance_layer, used,
                     f"the model has {n_layers} decoder layers (0..{used})")
    return cfg.model_copy(update={"importance_layer": used}), [adj]


def fit_to_adapter(cfg: PrunerConfig, adapter) -> PrunerConfig:
    """Apply `fit_pruner` to a loaded adapter and log each adjustment."""
    n_layers = len(getattr(adapter.language_model, "layers", ()))
    fitted, changes = fit_pruner(cfg, n_layers=n_layers)
    for c in changes:
        log.warning("%s", c.message())
    return fitted
