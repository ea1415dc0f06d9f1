"""Download a hub model before the cloud starts, with progress lines a container log can show.

`python -m cloud.fetch_model [vigil-cloud arguments]` reads the same configuration as
vigil-cloud (--config, --model, --role, VIGIL_CLOUD__* variables). When engine.model is a hub
id (``owner/name``) and this process will load a model (the single process or a worker), it
downloads the checkpoint into the hub cache (``HF_HOME``: the compose ``models`` volume) and
prints one line every few seconds: bytes done, percent, speed. A model already there costs one
hub request; offline (``HF_HUB_OFFLINE=1``), a local path, a built-in name (``tiny:<family>``,
``smollm_llava``, ``vigil-bench-vlm``) or a configuration vigil-cloud will refuse is left to
vigil-cloud, which says what is wrong. The compose image runs it before vigil-cloud: without
it transformers would download inside the model load, with progress bars a log cannot show.

Exit status: 0 (downloaded, present, or nothing to do), 1 when the download fails (a network
error is worth a restart; the message names the model and the cause).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from tqdm import tqdm

PROG = "vigil-cloud"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
BUILT_IN = ("tiny:", "smollm_llava", "vigil-bench-vlm")
ROLES_WITHOUT_MODEL = ("gateway", "delivery")
# Weights in formats the loader does not read: downloading them would double the size.
SKIPPED_FILES = ["*.gguf", "*.onnx", "*.msgpack", "*.h5", "*.ot", "*.tflite"]
PICKLED_WEIGHTS = ["*.bin", "*.pth", "*.pt"]      # skipped too when the repository has safetensors
REPORT_EVERY_S = 10.0


def hub_model(model: str | None) -> str | None:
    """`model` when it names a hub repository (not a local path, not a built-in name), else None."""
    if not model or model.startswith(BUILT_IN) or Path(model).expanduser().exists():
        return None
    return model if HUB_ID.match(model) else None


def describe(n: float, total: float | None, elapsed: float) -> str:
    """'1.20 of 7.51 GB (16%), 45.0 MB/s, about 2 min left' (total unknown: bytes and speed only)."""
    rate = n / elapsed if elapsed > 0 else 0.0
    text = f"{n / 1e9:.2f} GB"
    if total:
        text = f"{n / 1e9:.2f} of {total / 1e9:.2f} GB ({100 * n / total:.0f}%)"
    text += f", {rate / 1e6:.1f} MB/s"
    if total and rate > 0 and n < total:
        left = (total - n) / rate
        text += f", about {left / 60:.0f} min left" if left >= 90 else f", about {left:.0f} s left"
    return text


class _Discard:
    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass


class LogProgress(tqdm):
    """A tqdm that prints whole lines to stderr every REPORT_EVERY_S (and when done), not a redrawn bar."""

    def __init__(self, *args, **kwargs):
        kwargs["file"] = _Discard()           # tqdm's own bar and newlines go nowhere
        kwargs.pop("name", None)
        kwargs["disable"] = False
        self._started = self._last_report = time.monotonic()
        self._reported_n = -1.0
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None) -> bool:
        return True                            # lines come from update() and close(), below

    def update(self, n=1):
        shown = super().update(n)
        self._report(final=False)
        return shown

    def close(self) -> None:
        if not self.disable:
            self._report(final=True)
        super().close()

    def _report(self, final: bool) -> None:
        now = time.monotonic()
        if (not final and now - self._last_report < REPORT_EVERY_S) or (self.unit == "B" and self.n == 0):
            return                             # too soon, or a bytes bar that never started
        if final and self.n == self._reported_n:
            return                             # the last line already said it
        self._last_report, self._reported_n = now, self.n
        what = self.desc.rstrip(": ") or "progress"
        if self.unit == "B":
            line = describe(self.n, self.total, now - self._started)
        else:
            line = f"{self.n:.0f}/{self.total:.0f}" if self.total else f"{self.n:.0f}"
        print(f"{PROG}: model download: {what}: {line}", file=sys.stderr, flush=True)


def skipped_files(repo_files: list[str]) -> list[str]:
    """What not to download: other formats, and pickled weights where safetensors exist (the loader prefers them)."""
    has_safetensors = any(f.endswith(".safetensors") for f in repo_files)
    return SKIPPED_FILES + (PICKLED_WEIGHTS if has_safetensors else [])


def download(model: str) -> str:
    from huggingface_hub import list_repo_files, snapshot_download
    return snapshot_download(model, ignore_patterns=skipped_files(list_repo_files(model)), tqdm_class=LogProgress)


def configured_model(argv: list[str]) -> tuple[str | None, str | None]:
    """(engine.model, role) as vigil-cloud would see them; (None, role) when the config does not load."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config")
    p.add_argument("--model")
    p.add_argument("--role")
    args, _ = p.parse_known_args(argv)
    if args.model:
        return args.model, args.role
    try:
        from cloud.config import load_cloud_config
        return load_cloud_config(args.config, environ=dict(os.environ)).engine.model, args.role
    except Exception:       # vigil-cloud reports a bad configuration itself, in its own words
        return None, args.role


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    model, role = configured_model(argv)
    repo = hub_model(model)
    if repo is None or role in ROLES_WITHOUT_MODEL or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return 0
    print(f"{PROG}: model {repo}: checking the hub cache in {os.environ.get('HF_HOME', '~/.cache/huggingface')} "
          "(the first start downloads it; later starts reuse it)", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        path = download(repo)
    except Exception as exc:  # network, unknown repository, gated model, full disk: one line, no traceback
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{PROG}: cannot download model {repo!r}: {cause} (set VIGIL_MODEL to another hub id or a "
              "checkpoint directory mounted into the container)", file=sys.stderr, flush=True)
        return 1
    print(f"{PROG}: model {repo} ready in {path} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
