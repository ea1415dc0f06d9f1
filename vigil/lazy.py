"""Lazy package exports (PEP 562): ``from pkg import Name`` imports only the module that defines ``Name``.

A package ``__init__`` that imported every submodule would make its lightest name as heavy as its heaviest
(reading a config would import torch; a pure gate policy would import OpenCV). Packages list their exports
here instead and resolve each on first use.
"""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public names map to the modules defining them."""

    def __getattr__(name: str) -> object:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
