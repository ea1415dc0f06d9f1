"""The release gate: every committed result was measured at a commit whose measured code equals HEAD's.

A result goes stale when a later commit changes a path it measures (benchmarks/catalog.py, judged by
benchmarks/staleness.py). This test fails for each such result, one case per file, naming the first
commit that made it stale. It is marked `results` and is not part of `make test`: a result is refreshed by
rerunning its benchmark (minutes to an hour each; three need a GPU), so it gates a release
(`make results-check`, or `python -m benchmarks.staleness`), not each code change. What `make test` does
check, always, is that docs/results.md marks every stale result as stale (test_report.py).
"""
import json
from pathlib import Path

import pytest

from benchmarks.catalog import ARTIFACTS
from benchmarks.staleness import RESULTS, result_staleness

FILES = sorted(p for p in RESULTS.glob("*.json") if not any(p.match(a) for a in ARTIFACTS))


@pytest.mark.results
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_result_is_fresh_at_head(path: Path):
    st = result_staleness(path.stem, json.loads(path.read_text()))
    assert not st.stale, f"{path.name} is {st.state}: {st.why}; rerun its benchmark (its JSON's provenance.command)"
