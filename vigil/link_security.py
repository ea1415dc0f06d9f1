"""When the edge-cloud link may run without TLS: only on loopback, or when a flag says so (logged loudly).

A token sent in plaintext across a network can be read by anyone on the path; on loopback
(tests, the demo, a cloud and edge on one box) there is no path. Everything else needs TLS
(``server.tls`` / ``cloud.tls``) or an explicit ``plaintext: true``, which both sides log as a
WARNING at every start.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def host_of(target: str) -> str:
    """``host`` of ``host:port``, ``[v6]:port`` or a gRPC ``ipv4:``/``dns:`` target."""
    t = target.split("://", 1)[-1]
    for scheme in ("ipv4:", "ipv6:", "dns:", "dns:///"):
        if t.startswith(scheme):
            t = t[len(scheme):]
    t = t.lstrip("/")
    if t.startswith("["):
        return t[1:t.index("]")]
    return t.rsplit(":", 1)[0] if t.count(":") == 1 else t


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plaintext_allowed(host: str, flag: bool) -> tuple[bool, str]:
    """(allowed, why) for a plaintext link to/on ``host``."""
    if is_loopback(host):
        return True, "loopback only"
    if flag:
        return True, "plaintext: true"
    return False, ("no TLS configured and the address is not loopback; configure tls (vigil-cloud --make-ca "
                   "makes a local CA) or set plaintext: true to send tokens and frames unencrypted")


def unreadable_file(key: str, path: Path) -> str:
    """'' when the TLS file ``path`` (config key ``key``) can be read, else the one line that says why not."""
    try:
        with open(path, "rb"):
            return ""
    except OSError as exc:
        return f"{key}: cannot read {path}: {exc.strerror}"
