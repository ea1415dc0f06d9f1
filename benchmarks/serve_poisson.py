"""Serving under Poisson arrivals: the workload, the open-loop sender and its statistics.

A closed loop (every request at t=0) never exercises continuous batching by arrivals, and
its p50 = p95 = makespan. Here requests arrive as a Poisson process of aggregate rate
`rate` (requests/s), open loop (an arrival never waits for earlier answers), from S camera
streams: each arrival's camera is uniform over the S streams, the superposition of S Poisson
streams of rate/S. Rates are set as multiples of the one-by-one baseline's capacity measured
at the start of a run (`rates_for`), so the grid spans light load to past that capacity on
whatever machine runs it.

Answers vary in length because events do: each carries 1 to MAX_KINDS kinds of object (the
edge's boxes and count hints), and the alert answer lists what the model saw, then writes its
narrative; a seeded draw per arrival, so every arm of a repeat serves the same requests.

Pure (no torch, no model): `poisson_schedule`, `percentile`, `run_stats`, `cell_stats` and the
paired bootstraps take plain lists. `run_open_loop` sends a schedule to any async `describe`
callable (a fake one in the tests, an engine or a `generate()` worker in benchmarks/serve.py).
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
import statistics
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

from benchmarks.provenance import summarize
from benchmarks.stats import paired_bootstrap, verdict

MAX_KINDS = 4                     # object kinds per event: 1..4 (the answer's object list grows with each)
KINDS = ("person", "car", "bicycle", "dog")
BOOTSTRAP_SAMPLES = 2000          # stable 2.5/97.5 percentiles at the tens of requests a cell pools
BOOTSTRAP_SEED = 0
MIN_REPEATS_FOR_VERDICT = 3       # a bootstrap over fewer repeats cannot bound their median: no verdict

Describe = Callable[[object], Awaitable[tuple[str, int]]]   # request -> (raw answer text, generated tokens)


@dataclass(frozen=True)
class Arrival:
    at_s: float      # offset from the start of the run
    stream: int      # camera index in [0, streams)
    kinds: int       # object kinds in the event, 1..MAX_KINDS


def poisson_schedule(rate: float, n: int, streams: int, seed: int) -> list[Arrival]:
    """`n` arrivals of a Poisson process of `rate`/s, the first at 0: exponential gaps, a uniform stream each,
    and 1..MAX_KINDS object kinds each (seeded: every arm of a repeat gets the same schedule).
    `rate` = inf is a burst: every arrival at t=0 (the closed-loop level of earlier runs)."""
    if not rate > 0 or streams < 1 or n < 1:
        raise ValueError(f"rate must be > 0, streams >= 1 and n >= 1 (got {rate}, {streams}, {n})")
    rng = random.Random(seed)
    t, out = 0.0, []
    for k in range(n):
        # A run starts at its first arrival (the process seen from an arrival: the gaps after it are
        # still exponential); waiting out a gap before it would only add idle time to every run.
        t += 0.0 if k == 0 or math.isinf(rate) else rng.expovariate(rate)
        out.append(Arrival(round(t, 4), rng.randrange(streams), rng.randint(1, MAX_KINDS)))
    return out


def rates_for(load_factors: Sequence[float], one_by_one_service_s: float) -> list[float]:
    """Arrival rates at the given multiples of one-by-one's capacity (1 / its mean service time)."""
    if one_by_one_service_s <= 0:
        raise ValueError(f"service time must be > 0, got {one_by_one_service_s}")
    return [f / one_by_one_service_s for f in load_factors]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in (0, 1]): a value that was observed."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    rank = max(1, math.ceil(round(q * len(xs), 9)))   # rounded first: 0.95 * 20 must be 19, not 19.000...4
    return xs[min(len(xs), rank) - 1]


def is_valid_answer(text: str | None) -> bool:
    """An answer counts when it parses into the alert schema (the same check for every arm)."""
    from cloud.answer.constrained import parse_answer

    if not text:
        return False
    try:
        parse_answer(text)
    except ValueError:   # AnswerError and pydantic's ValidationError are both ValueErrors
        return False
    return True


@dataclass
class Outcome:
    """One request of one run: scheduled arrival and answer time (s from the run's start)."""
    index: int
    arrival_s: float
    done_s: float
    valid: bool
    tokens: int

    @property
    def ttd_s(self) -> float:
        return self.done_s - self.arrival_s


def max_outstanding(outcomes: Sequence[Outcome]) -> int:
    """Most requests in the system (arrived, not answered) at once."""
    events = sorted([(o.arrival_s, 1) for o in outcomes] + [(o.done_s, -1) for o in outcomes],
                    key=lambda e: (e[0], e[1]))   # an answer at the same instant leaves first
    most = now = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


def run_stats(outcomes: Sequence[Outcome]) -> dict:
    """One run's numbers. Throughput = valid answers / (last answer - first arrival)."""
    ttd = [o.ttd_s for o in outcomes]
    span = max(o.done_s for o in outcomes) - min(o.arrival_s for o in outcomes)
    valid = sum(o.valid for o in outcomes)
    tokens = [o.tokens for o in outcomes]
    return {"requests": len(ttd), "valid": valid, "ttd_p50_s": round(percentile(ttd, 0.5), 3),
            "ttd_p95_s": round(percentile(ttd, 0.95), 3), "ttd_max_s": round(max(ttd), 3),
            "valid_answers_per_s": round(valid / span, 4) if span > 0 else None,
            "span_s": round(span, 3), "max_outstanding": max_outstanding(outcomes),
            "tokens": tokens, "ttd_s": [round(x, 3) for x in ttd], "valid_each": [o.valid for o in outcomes]}


async def run_open_loop(describe: Describe, schedule: Sequence[Arrival], make_request: Callable[[Arrival, int], object],
                        clock: Callable[[], float] = time.perf_counter) -> list[Outcome]:
    """Send each request at its scheduled time without waiting for earlier answers.

    Time to description runs from the SCHEDULED arrival: a sender that falls behind its
    schedule counts against the server, as a real camera's event would."""
    start = clock()
    out: list[Outcome] = []

    async def one(i: int, a: Arrival) -> None:
        await asyncio.sleep(max(0.0, start + a.at_s - clock()))
        text, n = None, 0
        try:
            text, n = await describe(make_request(a, i))
        except Exception as exc:  # an error is an invalid answer, not the end of the run
            logging.getLogger("serve").warning("request %d failed: %s", i, exc)
        out.append(Outcome(i, a.at_s, clock() - start, is_valid_answer(text), n))

    await asyncio.gather(*(one(i, a) for i, a in enumerate(schedule)))
    return sorted(out, key=lambda o: o.index)


# -- a cell's statistics: requests pooled over repeats, arms paired by request -----------------
def _pooled(runs: Sequence[dict], key: str) -> list:
    return [x for r in runs for x in r[key]]


def bootstrap_percentile(values: Sequence[float], q: float, samples: int = BOOTSTRAP_SAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> dict:
    """Percentile q of the pooled requests and a bootstrap 95% interval (requests resampled)."""
    rng = random.Random(seed)
    n = len(values)
    boots = sorted(percentile(rng.choices(values, k=n), q) for _ in range(samples))
    return {"value": round(percentile(values, q), 3),
            "ci95": [round(boots[int(0.025 * (samples - 1))], 3), round(boots[int(0.975 * (samples - 1))], 3)], "n": n}


def paired_percentile_ratio(num: Sequence[float], den: Sequence[float], q: float,
                            samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """percentile_q(num) / percentile_q(den) where num[i] and den[i] are the SAME request served by
    two arms; the bootstrap resamples requests, keeping each pair together. `verdict` is "win" when
    the interval lies above 1 (num's percentile is larger), "loss" below 1, else "tie"."""
    if len(num) != len(den) or not num:
        raise ValueError(f"paired arms need the same requests: {len(num)} vs {len(den)}")
    rng = random.Random(seed)
    idx = range(len(num))
    ratios = []
    for _ in range(samples):
        pick = rng.choices(idx, k=len(num))
        d = percentile([den[i] for i in pick], q)
        ratios.append(percentile([num[i] for i in pick], q) / d if d > 0 else math.inf)
    ratios.sort()
    lo, hi = ratios[int(0.025 * (samples - 1))], ratios[int(0.975 * (samples - 1))]
    d = percentile(den, q)
    return {"value": round(percentile(num, q) / d, 4) if d > 0 else None, "ci95": [round(lo, 4), round(hi, 4)],
            "n": len(num), "verdict": verdict([lo - 1.0, hi - 1.0])}


def paired_throughput_ratio(num: Sequence[float], den: Sequence[float]) -> dict:
    """Per-repeat ratios of valid answers/s (both arms served the repeat's schedule); their median
    and its bootstrap interval; `verdict` "win" when the interval lies above 1 (and there are at
    least MIN_REPEATS_FOR_VERDICT repeats)."""
    per = [a / b for a, b in zip(num, den) if b]
    s = summarize(per)
    lo, hi = s["ci95"]
    v = verdict([lo - 1.0, hi - 1.0]) if s["n"] >= MIN_REPEATS_FOR_VERDICT else "tie"
    return {"value": s["median"], "ci95": s["ci95"], "n": s["n"], "values": per, "verdict": v}


def cell_stats(runs: dict[str, list[dict]], baseline: str = "one_by_one") -> dict:
    """One grid cell: per arm, pooled p50/p95 time to description and the median valid answers/s
    over repeats; per arm against `baseline` (and the engine against static batching), the paired
    p50 and p95 ratios (baseline / arm: above 1 = the arm answers sooner), the mean per-request
    difference in time to description and the paired throughput ratio (arm / baseline)."""
    out: dict = {}
    for arm, rs in runs.items():
        ttd, tokens, valid = _pooled(rs, "ttd_s"), _pooled(rs, "tokens"), _pooled(rs, "valid_each")
        out[arm] = {"ttd_p50_s": bootstrap_percentile(ttd, 0.5), "ttd_p95_s": bootstrap_percentile(ttd, 0.95),
                    "valid_answers_per_s": summarize(r["valid_answers_per_s"] or 0.0 for r in rs),
                    "valid": sum(valid), "requests": len(valid),
                    "tokens": {"min": min(tokens), "p50": statistics.median(tokens), "max": max(tokens)},
                    "max_outstanding": max(r["max_outstanding"] for r in rs), "runs": rs}
    pairs = [(baseline, arm) for arm in runs if arm != baseline]
    if "engine" in runs and "static_batch" in runs:
        pairs.append(("static_batch", "engine"))
    for base, arm in pairs:
        b, a = _pooled(runs[base], "ttd_s"), _pooled(runs[arm], "ttd_s")
        diff = paired_bootstrap(a, b)
        out[f"{arm}_vs_{base}"] = {
            "ttd_p50_ratio": paired_percentile_ratio(b, a, 0.5),
            "ttd_p95_ratio": paired_percentile_ratio(b, a, 0.95),
            "ttd_mean_diff_s": {"value": round(diff["diff"], 3), "ci95": [round(x, 3) for x in diff["ci95"]],
                                "n": diff["n"], "verdict": verdict([-diff["ci95"][1], -diff["ci95"][0]])},
            "throughput_ratio": paired_throughput_ratio([r["valid_answers_per_s"] or 0.0 for r in runs[arm]],
                                                        [r["valid_answers_per_s"] or 0.0 for r in runs[base]]),
        }
    return out
