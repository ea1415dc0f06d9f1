"""The published demo credentials, and the start-up check that refuses them outside a demo.

The demo token and webhook secret are in the repository, so anyone can send frames to a
cloud that accepts them or forge alerts for a receiver that trusts them. The libraries
still default to them (tests and ``make demo`` need no set-up); the long-running
commands refuse to start with them unless the operator says this is a demo
(``demo: true`` in the config, or ``VIGIL_DEMO=true`` in the environment).
"""
from __future__ import annotations

import os
from typing import Mapping

DEMO_EDGE_ID = "demo-edge"
DEMO_TOKEN = "vigil-demo-token"
DEMO_WEBHOOK_SECRET = "change-this-secret"
DEMO_OPERATOR_TOKEN = "vigil-operator-token"   # the operator API's default bearer token
DEMO_VALUES = frozenset({DEMO_TOKEN, DEMO_WEBHOOK_SECRET, DEMO_OPERATOR_TOKEN})
DEMO_ENV = "VIGIL_DEMO"
TRUE_WORDS = ("1", "true", "yes", "on")


def demo_flag(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return environ.get(DEMO_ENV, "").strip().lower() in TRUE_WORDS


def demo_secret_keys(secrets: Mapping[str, str]) -> list[str]:
    """The config keys (of `secrets`: key -> value) that hold a published demo value."""
    return sorted(k for k, v in secrets.items() if v in DEMO_VALUES)


def refusal(prog: str, keys: list[str]) -> str:
    return (f"{prog}: refusing to start with the published demo credentials in {', '.join(keys)}; "
            f"set your own (compose: VIGIL_EDGE_TOKEN, VIGIL_WEBHOOK_SECRET and VIGIL_OPERATOR_TOKEN), "
            f"or run as a demo with {DEMO_ENV}=true / demo: true")
