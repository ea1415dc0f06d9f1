"""The repository's text points only at things in it or public: no private notes, no tracker numbers."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Notes that live outside the repository, and tracker references a reader cannot follow.
OUTSIDE = re.compile(r"FACTS\.md|papers\.md|STYLE\.md|\bissues? #?\d+\b|later issues?\b", re.IGNORECASE)
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".proto", ".cfg", ""}
THIS_FILE = Path(__file__).resolve()


def _tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in out.stdout.splitlines()]


def test_no_text_refers_outside_the_repository():
    hits = []
    for path in _tracked_files():
        if path.suffix not in TEXT_SUFFIXES or path.resolve() == THIS_FILE or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)
