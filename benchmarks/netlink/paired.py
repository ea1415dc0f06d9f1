"""DAT against one baseline, paired per event and per repeat (pure: records in, numbers out).

Both arms replay the same scripted events, and the arms of one repeat run side by side on the
same machine (interleaved), so a slow moment of the shared machine delays both. Pairing keeps
that: event (repeat, camera, event) of DAT is compared with the same event of the baseline.

The headline is a severity-weighted delay reduction, ``1 - sum(w * d_dat) / sum(w * d_base)``
over the paired events, with a percentile bootstrap interval that resamples events within each
repeat (a repeat keeps its size; the repeats' loads stay as they were). A lost alert enters with
its censored delay (onset to the end of the run, a lower bound), so losing alerts never helps an
arm; how many pairs hold one is reported. Beside it: the reduction of each repeat on its own (the
unit that shares a load), the per-event paired difference in seconds, and the reduction per
severity (arbitration should help the heavy events most, and may cost the light ones).
"""
from __future__ import annotations

import random
from typing import Sequence

from benchmarks.stats import paired_bootstrap, verdict

BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 0


def paired_events(runs_a: Sequence[dict], runs_b: Sequence[dict]) -> list[dict]:
    """Events present in both arms' runs of the same repeat: repeat, severity, delay_a, delay_b."""
    by_b = {(r["repeat"], e["camera_id"], e["event_id"]): e for r in runs_b for e in r["events"]}
    out = []
    for r in runs_a:
        for e in r["events"]:
            f = by_b.get((r["repeat"], e["camera_id"], e["event_id"]))
            if f is None or e.get("delay_or_censored_s") is None or f.get("delay_or_censored_s") is None:
                continue
            out.append({"repeat": r["repeat"], "event": f"{e['camera_id']}/{e['event_id']}",
                        "severity": float(e["severity"]), "a": float(e["delay_or_censored_s"]),
                        "b": float(f["delay_or_censored_s"]),
                        "censored": (not e["described"]) or (not f["described"])})
    return out


def reduction(pairs: Sequence[dict]) -> float | None:
    """1 - weighted delay of A / weighted delay of B (weights: severity) over the pairs."""
    num = sum(p["severity"] * p["a"] for p in pairs)
    den = sum(p["severity"] * p["b"] for p in pairs)
    return None if den <= 0 else 1.0 - num / den


def _percentile(xs: Sequence[float], q: float) -> float:
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def bootstrap_reduction(pairs: Sequence[dict], samples: int = BOOTSTRAP_SAMPLES,
                        seed: int = BOOTSTRAP_SEED) -> list[float] | None:
    """95% percentile interval of :func:`reduction`, events resampled within their repeat."""
    strata: dict[int, list[dict]] = {}
    for p in pairs:
        strata.setdefault(p["repeat"], []).append(p)
    if not strata:
        return None
    rng = random.Random(seed)
    stats = []
    for _ in range(samples):
        draw = [x for s in strata.values() for x in rng.choices(s, k=len(s))]
        r = reduction(draw)
        if r is not None:
            stats.append(r)
    stats.sort()
    return [_percentile(stats, 0.025), _percentile(stats, 0.975)] if stats else None


def compare(runs_a: Sequence[dict], runs_b: Sequence[dict], floor: float | None = None) -> dict:
    """A (DAT) against B (a baseline): the paired headline, its interval, and its companions."""
    pairs = paired_events(runs_a, runs_b)
    red = reduction(pairs)
    ci = bootstrap_reduction(pairs)
    diff = paired_bootstrap([p["b"] for p in pairs], [p["a"] for p in pairs])
    per_repeat = {str(r): reduction([p for p in pairs if p["repeat"] == r])
                  for r in sorted({p["repeat"] for p in pairs})}
    by_sev = {}
    for sev in sorted({p["severity"] for p in pairs}, reverse=True):
        sub = [p for p in pairs if p["severity"] == sev]
        by_sev[f"{sev:g}"] = {"reduction": reduction(sub), "ci95": bootstrap_reduction(sub), "pairs": len(sub)}
    out = {"reduction": red, "ci95": ci, "pairs": len(pairs),
           "pairs_with_a_lost_alert": sum(1 for p in pairs if p["censored"]),
           "verdict": verdict(ci or [None, None]),   # win: the whole interval above 0 (a tie is not a win)
           "per_repeat": per_repeat,
           "mean_delay_saved_s": {"diff": diff["diff"], "ci95": diff["ci95"], "n": diff["n"]},
           "by_severity": by_sev}
    if floor is not None:
        out["floor"] = floor
        out["floor_met"] = red is not None and red >= floor
        out["floor_met_at_ci_low"] = bool(ci) and ci[0] >= floor
    return out
