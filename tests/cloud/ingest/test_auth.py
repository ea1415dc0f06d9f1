"""Per-edge tokens: hashed, constant-time compared, revocable without a restart; per-edge rate limits."""
import asyncio

import grpc
import pytest

from cloud.config import load_cloud_config
from cloud.engine.stub import FixedLatencyEngine
from cloud.ingest.auth import TokenStore, hash_token, parse_token_file
from cloud.ingest.rate_limit import EdgeRateLimiter
from cloud.service import CloudService
from tests.helpers.cloud_fakes import Collect
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc


def test_store_keeps_digests_only_and_verifies():
    store = TokenStore({"a": "plain-demo-token", "b": hash_token("b-token")})
    assert all(v.startswith("sha256:") for v in store.digests.values())
    assert "plain-demo-token" not in str(store.digests)
    assert store.verify("a", "plain-demo-token") and store.verify("b", "b-token")
    assert not store.verify("b", "plain-demo-token") and not store.verify("nobody", "b-token")


def test_token_file_is_validated_and_reloaded(tmp_path):
    f = tmp_path / "tokens"
    f.write_text(f"# site tokens\nedge-1 {hash_token('one')}\n")
    store = TokenStore({}, f)
    assert store.verify("edge-1", "one")
    f.write_text(f"edge-2 {hash_token('two')}  # new camera site\n")
    assert store.reload_if_changed() and not store.verify("edge-1", "one") and store.verify("edge-2", "two")
    with pytest.raises(ValueError, match="line 1"):
        parse_token_file("edge-3 plaintext")


def test_rate_limiter_refuses_over_the_rate_and_refills():
    lim = EdgeRateLimiter(packets_per_s=10, bytes_per_s=1e9, burst_s=1)
    assert sum(lim.allow("e", 100, 0.0) for _ in range(50)) == 10
    assert lim.allow("other", 100, 0.0)                      # per edge
    assert sum(lim.allow("e", 100, 1.0) for _ in range(50)) == 10


def test_revoking_a_token_ends_the_open_stream_and_refuses_new_ones(tmp_path):
    f = tmp_path / "tokens"
    f.write_text(f"edge-1 {hash_token('secret-one')}\n")

    async def go():
        cfg = load_cloud_config(environ={}, overrides={"server": {"host": "127.0.0.1", "port": 0},
                                                       "auth": {"tokens": {}, "token_file": str(f),
                                                                "reload_interval_s": 0.1},
                                                       "alerts": {"outbox_path": None}})
        svc = CloudService(cfg, engine=FixedLatencyEngine(), sinks=[Collect()])
        port = await svc.start()
        hello = pb.EdgeMessage(hello=pb.Hello(edge_id="edge-1", auth_token="secret-one"))
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = pb_grpc.IngestStub(ch).Stream()
                await call.write(hello)
                first = await call.read()
                assert first.WhichOneof("body") == "welcome"
                f.write_text("# edge-1 revoked\n")
                with pytest.raises(grpc.aio.AioRpcError) as ended:
                    while True:
                        msg = await asyncio.wait_for(call.read(), 5)
                        assert msg is not grpc.aio.EOF
                assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
                again = pb_grpc.IngestStub(ch).Stream()
                await again.write(hello)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await again.read()
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            await svc.stop()
    asyncio.run(go())
