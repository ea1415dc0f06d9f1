"""Typed configuration loading shared by the edge and the cloud.

Each side owns one pydantic model tree (``extra="forbid"``); this module only
knows how to fill it from a YAML file plus environment overrides and how to
turn a validation failure into a message that names the bad key.

Environment overrides use a prefix and ``__`` as the path separator, e.g.
``VIGIL_CLOUD__SERVER__PORT=50052`` sets ``server.port``. Values are parsed as
YAML scalars so ``true``/``3``/``[a, b]`` get their natural types.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or override is wrong; the message names what and where."""


def _set_path(tree: dict, path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def env_overrides(prefix: str, environ: Mapping[str, str] | None = None) -> dict:
    """Collect ``PREFIX__A__B=value`` variables into ``{"a": {"b": value}}``."""
    environ = os.environ if environ is None else environ
    tree: dict = {}
    marker = prefix.upper() + "__"
    for name, raw in environ.items():
        if not name.upper().startswith(marker):
            continue
        path = [p.lower() for p in name[len(marker):].split("__") if p]
        if not path or raw == "":
            continue  # an empty variable means "not set" (compose passes ${VAR:-} through as "")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        _set_path(tree, path, value)
    return tree


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; see README configuration table)"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def load_config(model: type[M], path: str | Path | None = None, *, env_prefix: str,
                environ: Mapping[str, str] | None = None, overrides: dict | None = None) -> M:
    """Build ``model`` from YAML at ``path`` (optional), env vars, then ``overrides``."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must hold a mapping at the top level")
        data = loaded
    env = env_overrides(env_prefix, environ)
    if env:
        data = _merge(data, env)
        source += f" + {env_prefix}__* environment"
    if overrides:
        data = _merge(data, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_for_cli(prog: str, loader, path, overrides: dict, check_only: bool = False, refusals=None):
    """Load a config for a command-line entry point and set up logging.

    A bad configuration prints ``prog: <what is wrong>`` to stderr and exits with
    status 2; so does each line ``refusals(cfg)`` returns (the start-up checks, applied
    in both paths). With ``check_only`` a good one prints ``configuration OK`` and exits 0.
    """
    import sys

    from vigil.logs import setup_logging
    try:
        cfg = loader(path, overrides=overrides)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    problems = refusals(cfg) if refusals is not None else []
    for problem in problems:
        print(f"{prog}: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(2)
    if check_only:
        print("configuration OK")
        raise SystemExit(0)
    setup_logging(cfg.log_level, getattr(cfg, "log_format", "text"))
    return cfg
