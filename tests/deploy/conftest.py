"""Read compose.yaml as compose would for one service: its environment with ${VAR:-default} expanded."""
import re
from types import SimpleNamespace
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}")


def expand(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's interpolation (${VAR}, ${VAR:-default}, ${VAR:?error}) against `env`."""
    env = env or {}

    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == "?":
            raise KeyError(f"{name} is required: {arg}")
        return arg if op == "-" else ""
    return _VAR.sub(sub, value)


def service_env(name: str, env: dict[str, str] | None = None) -> dict[str, str]:
    svc = COMPOSE["services"][name]
    return {k: expand(str(v), env) for k, v in (svc.get("environment") or {}).items()}


def service_config_file(name: str) -> Path:
    svc = COMPOSE["services"][name]
    return ROOT / next(v.split(":")[0] for v in svc["volumes"] if v.startswith("./config/"))


@pytest.fixture
def compose():
    """The helpers above, for tests in this folder."""
    return SimpleNamespace(root=ROOT, spec=COMPOSE, expand=expand, service_env=service_env,
                           service_config_file=service_config_file)
