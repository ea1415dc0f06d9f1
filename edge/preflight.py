"""Every start-up refusal of `vigil-edge`, in one function that `--check-config` and start-up both run.

A check that only start-up applied let `--check-config` print "configuration OK" for an edge
that then refused to start. Each refusal is one line naming the key and what to do; the CLI
prints them and exits with status 2 (docs/exit-codes.md).
"""
from __future__ import annotations

from vigil.demo_secrets import refusal
from vigil.link_security import host_of, plaintext_allowed, unreadable_file

PROG = "vigil-edge"


def refusals(cfg) -> list[str]:
    """Why this configuration cannot start (empty when it can), one line each, without the program name."""
    out: list[str] = []
    if not cfg.demo and cfg.demo_secret_keys():
        out.append(refusal(PROG, cfg.demo_secret_keys()).removeprefix(f"{PROG}: "))
    cameras = _cameras(cfg)
    if cameras:
        out.append(cameras)
    link = cfg.cloud
    if link.tls is None:
        allowed, why = plaintext_allowed(host_of(link.target), link.plaintext)
        if not allowed:
            out.append(f"cloud {link.target}: {why}")
    else:
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(link.tls, key)
            problem = path is not None and unreadable_file(f"cloud.tls.{key}", path)
            if problem:
                out.append(problem)
    return out



def _cameras(cfg) -> str:
    """The camera refusal start-up applies (edge.agent.check_cameras: no camera can work at all); a
    single broken camera is not refused, it is reported and retried while the others run."""
    from edge.agent import check_cameras
    from edge.config import resolve_camera_url
    from edge.sources.base import SourceError
    try:
        check_cameras([resolve_camera_url(c) for c in cfg.cameras if c.enabled])
    except SourceError as exc:
        return str(exc)
    return ""
