"""Provenance and repeat statistics shared by every benchmark.

Every result JSON carries `provenance` (what was measured, where, under what load) so a
reader can tell which commit a number belongs to and rerun it. Repeats are summarised by
their median and a 95% interval (bootstrap over the repeats; deterministic seed) so a
headline ratio comes with its spread, computed from the per-repeat values of both arms
measured in the same, interleaved run.
"""
from __future__ import annotations

import os
import platform
import random
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "transformers", "opencv-python", "opencv-python-headless", "numpy", "grpcio",
            "xgrammar", "triton", "ultralytics")
BOOTSTRAP_SAMPLES = 2000  # enough for a stable 2.5/97.5 percentile at n >= 3
BOOTSTRAP_SEED = 0


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class Provenance:
    """Start before measuring, `finish()` after: returns the dict stored under `provenance`."""

    def __init__(self, seeds: dict[str, int] | None = None, **extra: Any) -> None:
        self.started = time.time()
        self.load_before = _loadavg()
        # The commit measured is the one checked out when measuring starts (HEAD may move during a long run).
        self.commit = _git("rev-parse", "HEAD")
        self.dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        self.seeds = dict(seeds or {})
        given = extra.pop("commit_given", None) or os.environ.get("VIGIL_COMMIT")
        if given and given != self.commit:
            # A tree copied to another machine (a lent GPU) may carry a stale .git or none: the caller
            # names the commit it copied, and the .git found there is kept for the record.
            extra = {"git_on_machine": {"commit": self.commit, "dirty": self.dirty}, **extra}
            self.commit, self.dirty = given, False
        self.extra = extra

    def finish(self, **extra: Any) -> dict[str, Any]:
        gpu = None
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            if torch.cuda.is_available():
                gpu = {"name": torch.cuda.get_device_name(0), "cuda": torch.version.cuda}
        head = _git("rev-parse", "HEAD")
        return {
            "commit": self.commit,
            "dirty": self.dirty,
            **({"head_at_finish": head} if head != self.commit else {}),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                        "gpu": gpu},
            "versions": _versions(),
            "load_before": self.load_before,
            "load_after": _loadavg(),
            "seeds": self.seeds,
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "wall_s": round(time.time() - self.started, 1),
            **self.extra,
            **extra,
        }


def _percentile(sorted_xs: Sequence[float], q: float) -> float:
    if not sorted_xs:
        return float("nan")
    pos = q * (len(sorted_xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """Median and a bootstrap 95% interval of the median over repeats."""
    xs = [float(v) for v in values]
    if not xs:
        return {"median": None, "ci95": [None, None], "n": 0, "values": []}
    rng = random.Random(BOOTSTRAP_SEED)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(BOOTSTRAP_SAMPLES))
    return {"median": statistics.median(xs), "ci95": [_percentile(meds, 0.025), _percentile(meds, 0.975)],
            "n": len(xs), "values": xs}


def ratio(numerator: Iterable[float], denominator: Iterable[float]) -> dict[str, Any]:
    """Ratio of medians with a bootstrap 95% interval (repeats resampled independently per arm)."""
    a, b = [float(v) for v in numerator], [float(v) for v in denominator]
    if not a or not b:
        return {"ratio": None, "ci95": [None, None], "n": [len(a), len(b)]}
    rng = random.Random(BOOTSTRAP_SEED)
    rs = sorted(statistics.median(rng.choices(a, k=len(a))) / statistics.median(rng.choices(b, k=len(b)))
                for _ in range(BOOTSTRAP_SAMPLES))
    return {"ratio": statistics.median(a) / statistics.median(b),
            "ci95": [_percentile(rs, 0.025), _percentile(rs, 0.975)], "n": [len(a), len(b)]}


def interleaved(arms: Sequence[str], repeats: int) -> list[tuple[int, str]]:
    """The run order A B C A B C …: machine drift hits every arm alike."""
    return [(r, arm) for r in range(repeats) for arm in arms]
