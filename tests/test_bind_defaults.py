"""Safe defaults: every listening port binds loopback unless the configuration asks for more.

Checked on the configs and on real sockets: the cloud's operator API and gRPC port, and the edge's
/metrics, started with default hosts, answer on 127.0.0.1 and refuse a connection to this machine's
own network address.
"""
import asyncio
import socket

import pytest

from cloud.config import load_cloud_config
from edge.config import load_edge_config

LOOPBACK = "127.0.0.1"


def _own_address() -> str | None:
    """One of this machine's own non-loopback addresses: the source of a route (a UDP connect sends nothing)."""
    for target in ("198.51.100.1", "192.0.2.1", "10.0.0.1", "172.16.0.1"):     # documentation/private ranges
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((target, 9))
            except OSError:
                continue
            ip = s.getsockname()[0]
        if not ip.startswith("127."):
            return ip
    return None


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2.0)
        return s.connect_ex((host, port)) == 0


def test_default_hosts_are_loopback():
    cloud = load_cloud_config(environ={})
    edge = load_edge_config(environ={})
    assert (cloud.api.host, cloud.server.host) == (LOOPBACK, LOOPBACK)
    assert (edge.metrics.host, edge.health_host) == (LOOPBACK, LOOPBACK)


def test_wider_binding_only_when_asked():
    cloud = load_cloud_config(environ={"VIGIL_CLOUD__API__HOST": "0.0.0.0"})
    assert cloud.api.host == "0.0.0.0"


def test_cloud_ports_listen_on_loopback_only():
    own = _own_address()
    if own is None:
        pytest.skip("this machine has no non-loopback address to try")
    from cloud.service import CloudService
    from tests.helpers.cloud_fakes import FakeEngine

    async def go():
        cfg = load_cloud_config(environ={}, overrides={"server": {"port": 0}, "api": {"port": 0},
                                                       "alerts": {"outbox_path": None}, "store": {"path": None}})
        svc = CloudService(cfg, engine=FakeEngine(), sinks=[])
        grpc_port = await svc.start()
        try:
            ports = (grpc_port, svc.api.port)
            return [(await asyncio.to_thread(_accepts, LOOPBACK, p), await asyncio.to_thread(_accepts, own, p))
                    for p in ports]
        finally:
            await svc.stop()

    assert asyncio.run(go()) == [(True, False), (True, False)]


def test_edge_metrics_listen_on_loopback_only():
    own = _own_address()
    if own is None:
        pytest.skip("this machine has no non-loopback address to try")
    from edge.metrics import serve
    from edge.metrics_config import MetricsConfig

    class Agent:    # /metrics is not read here, only bound
        pass

    cfg = MetricsConfig(port=0)
    server = serve(Agent(), cfg)
    try:
        port = server.server_address[1]
        assert _accepts(LOOPBACK, port) and not _accepts(own, port)
    finally:
        server.shutdown()
        server.server_close()
