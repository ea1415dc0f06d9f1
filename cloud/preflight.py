"""Every start-up refusal of `vigil-cloud`, in one function that `--check-config` and start-up both run.

A check that only start-up applied let `--check-config` print "configuration OK" for a file the
service then refused. Each refusal is one line naming the key and what to do; the CLI prints
them and exits with status 2 (docs/exit-codes.md). What can only fail while running (a port
another process holds, Redis down, a model that does not load) is not here: those exit 1.
"""
from __future__ import annotations

from pathlib import Path

from vigil.demo_secrets import refusal
from vigil.link_security import plaintext_allowed, unreadable_file

PROG = "vigil-cloud"
# engine.model values that name no file: built in code, or a stub engine
BUILT_IN_MODELS = ("tiny:", "stub:", "smollm_llava")


def refusals(cfg, role: str | None = None) -> list[str]:
    """Why this configuration cannot start (empty when it can), one line each, without the program name."""
    from cloud.scale.roles import role_error
    out: list[str] = []
    if not cfg.demo and cfg.demo_secret_keys():
        out.append(refusal(PROG, cfg.demo_secret_keys()).removeprefix(f"{PROG}: "))
    bad_role = role_error(role, cfg.scale.mode)
    if bad_role:
        out.append(bad_role)
    out.extend(_grpc_link(cfg.server))
    model = _model_path(cfg.engine.model)
    if model:
        out.append(model)
    return out


def _grpc_link(s) -> list[str]:
    if s.tls is None:
        allowed, why = plaintext_allowed(s.host, s.plaintext)
        return [] if allowed else [f"refusing to serve {s.host}:{s.port} without TLS: {why}"]
    files = [("server.tls.cert_file", s.tls.cert_file), ("server.tls.key_file", s.tls.key_file),
             ("server.tls.client_ca_file", s.tls.client_ca_file)]
    problems = [unreadable_file(key, path) for key, path in files if path is not None]
    return [p for p in problems if p]


def _model_path(model: str | None) -> str:
    """A checkpoint given as a path must exist: otherwise it reads as a malformed hub id, and the error
    says that instead of 'no such directory'. A hub id is 'name' or 'org/name'."""
    if model is None or model.startswith(BUILT_IN_MODELS) or Path(model).expanduser().exists():
        return ""
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        return (f"engine.model: no such directory: {model} (give a checkpoint directory that exists, "
                "or a hub id such as Qwen/Qwen2.5-VL-3B-Instruct)")
    return ""
