"""TLS on the gRPC stream, mutual TLS with edge certificates from a local CA, and plaintext only when allowed."""
import asyncio

import grpc
import pytest

from cloud.config import load_cloud_config
from cloud.engine.stub import FixedLatencyEngine
from cloud.ingest.grpc_server import BindError
from cloud.ingest.local_ca import make_ca
from cloud.service import CloudService
from edge.client import LinkConfigError, channel_credentials
from edge.link_config import CloudLinkConfig
from tests.helpers.cloud_fakes import Collect
from vigil.link_security import host_of, is_loopback
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

HELLO = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token"))


def _service(tmp_path, mtls: bool):
    ca = make_ca(tmp_path / "ca", ["localhost", "127.0.0.1"], ["demo-edge"])
    tls = {"cert_file": str(ca / "server.pem"), "key_file": str(ca / "server.key")}
    if mtls:
        tls["client_ca_file"] = str(ca / "ca.pem")
    cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0, "tls": tls},
                                                   "alerts": {"outbox_path": None}})
    return ca, CloudService(cfg, engine=FixedLatencyEngine(), sinks=[Collect()])


async def _hello(channel) -> str:
    call = pb_grpc.IngestStub(channel).Stream()
    await call.write(HELLO)
    msg = await asyncio.wait_for(call.read(), 10)
    call.cancel()
    return msg.WhichOneof("body")


def test_mutual_tls_admits_edges_with_a_certificate_only(tmp_path):
    async def go():
        ca, svc = _service(tmp_path, mtls=True)
        port = await svc.start()
        target = f"localhost:{port}"
        results = {}
        try:
            link = CloudLinkConfig(target=target, tls={"ca_file": ca / "ca.pem", "cert_file": ca / "edge-demo-edge.pem",
                                                       "key_file": ca / "edge-demo-edge.key"})
            async with grpc.aio.secure_channel(target, channel_credentials(link)) as ch:
                results["mtls"] = await _hello(ch)
            anonymous = CloudLinkConfig(target=target, tls={"ca_file": ca / "ca.pem"})
            for name, ch in (("no_cert", grpc.aio.secure_channel(target, channel_credentials(anonymous))),
                             ("plaintext", grpc.aio.insecure_channel(target))):
                async with ch:
                    try:
                        results[name] = await _hello(ch)
                    except grpc.aio.AioRpcError as exc:
                        results[name] = exc.code()
        finally:
            await svc.stop()
        return results
    results = asyncio.run(go())
    assert results["mtls"] == "welcome"
    assert results["no_cert"] == grpc.StatusCode.UNAVAILABLE and results["plaintext"] == grpc.StatusCode.UNAVAILABLE


def test_plaintext_needs_loopback_or_the_flag():
    assert is_loopback(host_of("127.0.0.1:50051")) and is_loopback(host_of("localhost:1"))
    assert is_loopback(host_of("[::1]:5")) and not is_loopback(host_of("cloud:50051"))
    with pytest.raises(LinkConfigError, match="plaintext: true"):
        channel_credentials(CloudLinkConfig(target="cloud.example.org:50051"))
    assert channel_credentials(CloudLinkConfig(target="cloud.example.org:50051", plaintext=True)) is None

    async def go():
        cfg = load_cloud_config(environ={}, overrides={"server": {"host": "0.0.0.0", "port": 0},
                                                       "alerts": {"outbox_path": None}})
        svc = CloudService(cfg, engine=FixedLatencyEngine(), sinks=[])
        with pytest.raises(BindError, match="without TLS"):
            await svc.start()
    asyncio.run(go())
