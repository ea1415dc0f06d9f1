"""Two network namespaces joined by a veth pair, the edge's uplink rate-shaped with ``tc tbf``.

    [edge ns] veth-e 10.231.N.1  ==tbf(rate)==>  veth-c 10.231.N.2 [cloud ns]: delay relay -> cloud

The uplink (edge -> cloud) is shaped in the kernel with a token bucket filter; the downlink
(Acks, Results) is not shaped. Delay comes from :mod:`benchmarks.netlink.relay`; this kernel has
no netem, so **packet loss is not emulated** (queue overflow in tbf can still drop, as a real
router would). ``down()``/``up()`` take the edge's link down and up (the outage profile).

Everything created here is removed on ``close()``, on context exit and at interpreter exit, and
stale namespaces of a killed earlier run (same name prefix, dead owner pid) are removed first.
Needs root (CAP_NET_ADMIN); :func:`available` says whether that works here.
"""
from __future__ import annotations

import atexit
import os
import subprocess

PREFIX = "vgdat"
TBF_LATENCY_MS = 400      # tbf queue: ~0.4 s of the link rate, like a small home router buffer


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=20)


def available() -> tuple[bool, str]:
    """(True, "") when namespaces + veth + tbf can be made here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root: network namespaces need CAP_NET_ADMIN"
    probe = f"{PREFIX}probe{os.getpid()}"
    try:
        _run("ip", "netns", "add", probe)
        _run("ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "tbf",
             "rate", "1mbit", "burst", "4kb", "latency", "100ms")
        return True, ""
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired) as exc:
        why = getattr(exc, "stderr", "") or str(exc)
        return False, f"cannot build namespaces/tbf: {why.strip()}"
    finally:
        _run("ip", "netns", "del", probe, check=False)


def cleanup_stale() -> None:
    out = _run("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX) or name.startswith(PREFIX + "probe"):
            continue
        try:
            pid = int(name[len(PREFIX):].split("x")[0])
        except ValueError:
            continue
        if not os.path.exists(f"/proc/{pid}"):
            _run("ip", "netns", "del", name, check=False)


class NetnsLink:
    def __init__(self, rate_bps: float, index: int = 0) -> None:
        cleanup_stale()
        tag = f"{os.getpid()}x{index}"
        self.edge_ns = f"{PREFIX}{tag}e"
        self.cloud_ns = f"{PREFIX}{tag}c"
        self.veth_e, self.veth_c = f"vge{index}", f"vgc{index}"
        net = 231
        sub = (os.getpid() + index) % 250 + 1
        self.edge_ip, self.cloud_ip = f"10.{net}.{sub}.1", f"10.{net}.{sub}.2"
        self.rate_bps = rate_bps
        self._closed = False
        atexit.register(self.close)
        try:
            _run("ip", "netns", "add", self.edge_ns)
            _run("ip", "netns", "add", self.cloud_ns)
            _run("ip", "link", "add", self.veth_e, "netns", self.edge_ns, "type", "veth",
                 "peer", "name", self.veth_c, "netns", self.cloud_ns)
            for ns, dev, ip in ((self.edge_ns, self.veth_e, self.edge_ip), (self.cloud_ns, self.veth_c, self.cloud_ip)):
                _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
                _run("ip", "-n", ns, "link", "set", dev, "up")
                _run("ip", "-n", ns, "link", "set", "lo", "up")
            self.set_rate(rate_bps)
        except Exception:
            self.close()
            raise

    def set_rate(self, rate_bps: float) -> None:
        self.rate_bps = rate_bps
        burst = max(4096, int(rate_bps / 8 * 0.005))  # 5 ms of rate, at least a few MTUs
        _run("ip", "netns", "exec", self.edge_ns, "tc", "qdisc", "replace", "dev", self.veth_e, "root", "tbf",
             "rate", f"{int(rate_bps)}bit", "burst", str(burst), "latency", f"{TBF_LATENCY_MS}ms")

    def down(self) -> None:
        _run("ip", "-n", self.edge_ns, "link", "set", self.veth_e, "down")

    def up(self) -> None:
        _run("ip", "-n", self.edge_ns, "link", "set", self.veth_e, "up")

    def exec_prefix(self, side: str) -> list[str]:
        return ["ip", "netns", "exec", self.edge_ns if side == "edge" else self.cloud_ns]

    def qdisc_stats(self) -> str:
        return _run("ip", "netns", "exec", self.edge_ns, "tc", "-s", "qdisc", "show", "dev", self.veth_e,
                    check=False).stdout

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for ns in (self.edge_ns, self.cloud_ns):
            _run("ip", "netns", "del", ns, check=False)

    def __enter__(self) -> "NetnsLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
