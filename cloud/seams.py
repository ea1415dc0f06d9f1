"""The runner's plug-in seams, declared in one place: what `ModelRunner` (cloud/engine/runner.py) calls
and what its plug-ins (cloud/prune, cloud/kvcache, cloud/speculative) implement. Nothing here imports
torch or another floor of ours."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StepOutput:
    """One row's outcome of a prefill or decode step: its newest token and whether it is done."""
    seq_id: str
    token: int
    finished: bool
