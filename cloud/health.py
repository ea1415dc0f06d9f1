"""The cloud's gRPC health service (grpc.health.v1) and a probe for container healthchecks.

The standard protocol (grpc/grpc doc/health-checking.md), so any gRPC-aware checker
(grpc_health_probe, Kubernetes' grpc probe, a load balancer) works as well as
``python -m cloud.health``. Status follows the model, not the socket: NOT_SERVING
while the model loads (tens of seconds for a real checkpoint), SERVING once it has,
NOT_SERVING again while draining on shutdown. Reported both for the whole server
("") and for the ingest service by name.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vigil.v1 import vigil_pb2

log = logging.getLogger("vigil.cloud")

INGEST_SERVICE = vigil_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name
SERVICES = ("", INGEST_SERVICE)      # "" = the server as a whole (what probes ask by default)
PROBE_TIMEOUT_S = 3.0                # a healthcheck that hangs is worse than one that fails


class CloudHealth:
    """Owns the health servicer of one gRPC server."""

    def __init__(self) -> None:
        self.servicer = health_aio.HealthServicer()

    def attach(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in SERVICES:
            await self.servicer.set(name, status)

    async def follow_engine(self, engine) -> None:
        """NOT_SERVING until `engine.ready()` returns; stays so (and re-raises) if loading fails."""
        await self.set_serving(False)
        ready = getattr(engine, "ready", None)
        if ready is not None:
            await ready()
        await self.set_serving(True)

    async def shutting_down(self) -> None:
        await self.set_serving(False)
        await self.servicer.enter_graceful_shutdown()


async def probe(target: str, service: str = "", timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """The status name the server at `target` reports for `service` (raises grpc errors)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cloud.health",
                                 description="Ask a Vigil cloud for its gRPC health; exit 0 only when SERVING.")
    ap.add_argument("target", nargs="?", default="127.0.0.1:50051", help="host:port (default %(default)s)")
    ap.add_argument("--service", default="", help="service name (default: the whole server)")
    ap.add_argument("--timeout", type=float, default=PROBE_TIMEOUT_S)
    a = ap.parse_args(argv)
    try:
        status = asyncio.run(probe(a.target, a.service, a.timeout))
    except grpc.aio.AioRpcError as exc:
        print(f"{a.target}: {exc.code().name} {exc.details() or ''}".rstrip(), file=sys.stderr)
        return 1
    print(f"{a.target}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    raise SystemExit(main())
