"""Visual token pruning: TokenPruner interface, ID-Selection and its baselines.

Exports resolve lazily, so reading `PrunerConfig` (the cloud config does) imports no torch.
"""
from __future__ import annotations

from vigil.lazy import lazy_exports

_EXPORTS = {
    "PruneContext": "cloud.prune.base",
    "TokenPruner": "cloud.prune.base",
    "PrunerConfig": "cloud.prune.config",
    "resolve_budget": "cloud.prune.config",
    "build_pruner": "cloud.prune.registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
