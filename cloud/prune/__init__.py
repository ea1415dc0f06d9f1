"""Visual token pruning: TokenPruner interface, ID-Selection and its baselines."""
from cloud.prune.base import PruneContext, PrunedInputs, TokenPruner, apply_pruning
from cloud.prune.config import PrunerConfig, resolve_budget

__all__ = ["PruneContext", "PrunedInputs", "PrunerConfig", "TokenPruner", "apply_pruning",
           "resolve_budget", "build_pruner"]


def build_pruner(config: PrunerConfig) -> TokenPruner:
    """The pruner named by `config.method` (registry kept here so imports stay lazy)."""
    from cloud.prune.registry import PRUNERS

    return PRUNERS[config.method](config)
