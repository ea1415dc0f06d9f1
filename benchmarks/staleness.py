"""Is a result still about today's code? Compare its commit with the history of what it measures.

A result JSON records the commit it was measured at (`provenance.commit`); the catalog
(benchmarks/catalog.py) names the paths it measures. The result is stale when those paths
differ between the measured commit and HEAD (`git diff <commit> HEAD -- <paths>`): the number no longer
describes the code that ships; the commits since that touched them (`git rev-list <commit>..HEAD -- <paths>`)
say where it went stale.
A commit git does not know (measured on a branch never merged, or no repository here) is
"unknown", which the report shows as stale too: nobody can say the number still holds.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.catalog import ARTIFACTS, CATALOG, benchmark_of

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
FRESH, STALE, UNKNOWN = "fresh", "stale", "unknown"


@dataclass(frozen=True)
class Staleness:
    state: str                 # FRESH, STALE or UNKNOWN
    commit: str | None         # the measured commit
    later_commits: int = 0     # commits after it that touched the measured paths
    first_later: str | None = None   # the oldest of them (where the result went stale)
    why: str = ""

    @property
    def stale(self) -> bool:
        return self.state != FRESH


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)


def staleness(commit: str | None, paths: tuple[str, ...] | list[str], repo: Path = REPO) -> Staleness:
    """How the measured `paths` changed between `commit` and HEAD of `repo`."""
    if not commit:
        return Staleness(UNKNOWN, None, why="no provenance.commit")
    if not paths:
        return Staleness(UNKNOWN, commit, why="the catalog names no measured paths")
    try:
        known = _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0
        if not known:
            return Staleness(UNKNOWN, commit, why="commit not in this repository's history")
        if _git(repo, "merge-base", "--is-ancestor", commit, "HEAD").returncode != 0:
            return Staleness(UNKNOWN, commit, why="commit is not an ancestor of HEAD")
        # The measured code is what counts, not the path of history to it: a merge that brings the
        # measured commit's own files, or a change undone later, leaves the result about HEAD's code.
        same = _git(repo, "diff", "--quiet", commit, "HEAD", "--", *paths)
        if same.returncode == 0:
            return Staleness(FRESH, commit)
        out = _git(repo, "rev-list", "--reverse", f"{commit}..HEAD", "--", *paths)
    except (OSError, subprocess.SubprocessError) as exc:
        return Staleness(UNKNOWN, commit, why=f"git unavailable: {exc}")
    if same.returncode != 1 or out.returncode != 0:
        err = (same.stderr or out.stderr).strip()
        return Staleness(UNKNOWN, commit, why=err.splitlines()[-1] if err else "git failed")
    later = out.stdout.split()
    return Staleness(STALE, commit, len(later), later[0],
                     why=f"{len(later)} later commit(s) changed the measured code, first {later[0][:9]}")


def result_staleness(stem: str, data: dict, repo: Path = REPO) -> Staleness:
    """Staleness of one result JSON (file stem and parsed content) against its catalog entry."""
    spec = CATALOG.get(benchmark_of(stem, data))
    prov = data.get("provenance") if isinstance(data.get("provenance"), dict) else {}
    return staleness(prov.get("commit"), spec.measures if spec else (), repo)


def stale_results(results_dir: Path | None = None, repo: Path = REPO) -> list[tuple[str, Staleness]]:
    """(file name, staleness) of every committed result that no longer describes HEAD's code (a result
    the catalog does not know is "unknown", so stale too)."""
    import json

    out = []
    for path in sorted((results_dir or RESULTS).glob("*.json")):
        if any(path.match(a) for a in ARTIFACTS):
            continue
        data = json.loads(path.read_text())
        st = result_staleness(path.stem, data, repo)
        if st.stale:
            out.append((path.name, st))
    return out


def main() -> int:
    """`python -m benchmarks.staleness`: list the stale results; exit 1 when there is any (the release gate)."""
    stale = stale_results()
    for name, st in stale:
        print(f"stale: {name}: {st.why} (measured at {(st.commit or 'no commit')[:9]})")
    print(f"{len(stale)} stale result(s)" if stale else "every result is fresh")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
