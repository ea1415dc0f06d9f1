"""Pruners by name (PrunerConfig.method), so configs and benchmarks pick them by string."""
from __future__ import annotations

from cloud.prune.base import TokenPruner
from cloud.prune.config import PrunerConfig
from cloud.prune.divprune import DivPrunePruner
from cloud.prune.fastv import FastVPruner
from cloud.prune.id_selection import IdSelectionPruner
from cloud.prune.none import NoPruner
from cloud.prune.random import RandomPruner

PRUNERS: dict[str, type[TokenPruner]] = {
    cls.name: cls for cls in (NoPruner, RandomPruner, FastVPruner, DivPrunePruner, IdSelectionPruner)
}


def build_pruner(config: PrunerConfig) -> TokenPruner:
    """The pruner named by `config.method`."""
    return PRUNERS[config.method](config)
