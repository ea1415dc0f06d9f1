"""Speculative decoding for the description engine: LVSpec's loose verification
(arXiv 2604.05650) and an exact strict mode, with drafters behind one interface.

Exports resolve lazily, so reading `SpeculativeConfig` (the cloud config does) imports no torch.
"""
from __future__ import annotations

from vigil.lazy import lazy_exports

_EXPORTS = {
    "SpeculativeConfig": "cloud.speculative.config",
    "Speculator": "cloud.speculative.speculator",
    "speculative_step": "cloud.speculative.decode",
    "build_drafter": "cloud.speculative.registry",
    "build_speculator": "cloud.speculative.registry",
    "load_draft_adapter": "cloud.speculative.registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
