"""What a receiver should see of one alert's stages (docs/events.md), for tests and benchmarks that count
alerts at a real receiver: ``detected`` first; ``updated`` (any number) before ``ended``; ``detected``,
``ended`` and ``described`` at most once each; ``described`` before or after ``ended``; ``redescribed``
(a second description, any number, never required) only after ``described``.
``stages`` is the list of stage names as received, repeats (same webhook-id) already dropped."""
from __future__ import annotations

ONCE = ("detected", "ended", "described")


def in_order(stages: list[str]) -> bool:
    """The stages received so far break no ordering rule."""
    if not stages or stages[0] != "detected" or any(stages.count(s) > 1 for s in ONCE):
        return False
    if "redescribed" in stages and ("described" not in stages or
                                    stages.index("redescribed") < stages.index("described")):
        return False
    return "ended" not in stages or "updated" not in stages[stages.index("ended"):]


def complete(stages: list[str] | None) -> bool:
    """In order and described (the alert's last word on its description; the object may still be in view,
    or its edge may have died before the object's end was sent)."""
    return bool(stages) and in_order(stages) and "described" in stages
