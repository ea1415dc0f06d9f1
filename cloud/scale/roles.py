"""What `vigil-cloud --role ROLE` runs in scale-out mode (each role's lifetime: lifetime.py)."""
from __future__ import annotations

from vigil.signals import stop_on_signals

ROLES = ("gateway", "worker", "delivery")


def role_error(role: str | None, mode: str) -> str | None:
    """Why ``role`` cannot run under ``scale.mode`` (None when it can)."""
    if role in (None, "single"):
        return "scale.mode is redis: start each process with --role gateway, worker or delivery" \
            if mode == "redis" else None
    if mode != "redis":
        return f"--role {role} needs scale.mode: redis (and scale.redis_url)"
    return None


async def serve_role(cfg, role: str) -> int:
    stop = stop_on_signals()
    if role == "gateway":
        from cloud.scale.gateway import serve
    elif role == "worker":
        from cloud.scale.worker import serve
    else:
        from cloud.scale.delivery import serve
    return await serve(cfg, stop)
