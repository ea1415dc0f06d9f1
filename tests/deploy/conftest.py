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


# -- Dockerfiles and .dockerignore, read as docker build would -----------------------------------
def dockerfile_stages(path: Path) -> list[dict]:
    """Per stage: its `FROM` image, `COPY` sources from the build context, and the last `USER`."""
    stages: list[dict] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages.append({"from": rest.split()[0], "copy": [], "user": None, "entrypoint": None})
        elif word == "COPY" and "--from=" not in rest:
            parts = [p for p in rest.split() if not p.startswith("--")]
            stages[-1]["copy"].extend(parts[:-1])
        elif word == "USER":
            stages[-1]["user"] = rest.strip()
        elif word == "ENTRYPOINT":
            stages[-1]["entrypoint"] = yaml.safe_load(rest)
    return stages


def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def dockerignore_rules(root: Path) -> list[tuple[bool, re.Pattern]]:
    rules = []
    for raw in (root / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _pattern_regex(line.lstrip("!").strip("/"))))
    return rules


def in_context(path: str, rules) -> bool:
    """Whether docker sends `path` (relative, posix) to the builder: the last matching rule wins,
    and a rule matching a parent folder matches what is inside it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    included = True
    for negate, rx in rules:
        if any(rx.match(p) for p in prefixes):
            included = negate
    return included


def image_files(dockerfile: Path, candidates: list[str], root: Path = ROOT) -> set[str]:
    """Context files (of `candidates`) that the final stage's COPY lines bring into the image."""
    rules = dockerignore_rules(root)
    final = dockerfile_stages(dockerfile)[-1]
    out = set()
    for src in final["copy"]:
        src = src.rstrip("/").removeprefix("./")
        for f in candidates:
            whole = src in (".", "")
            if (whole or f == src or f.startswith(src + "/")) and in_context(f, rules):
                out.add(f)
    return out


@pytest.fixture
def compose():
    """The helpers above, for tests in this folder."""
    return SimpleNamespace(root=ROOT, spec=COMPOSE, expand=expand, service_env=service_env,
                           service_config_file=service_config_file, dockerfile_stages=dockerfile_stages,
                           dockerignore_rules=dockerignore_rules, in_context=in_context, image_files=image_files)
