"""The ingest's gRPC server: bound before it starts (a taken port is one clear error), TLS from
``server.tls`` or a plaintext the settings allow, and a fixed HTTP/2 window per edge so the transport
buffers a bounded amount per edge under overload."""
from __future__ import annotations

import logging
import socket

import grpc

from cloud.health import CloudHealth
from vigil.link_security import plaintext_allowed
from vigil.v1 import vigil_pb2_grpc as pb_grpc

log = logging.getLogger("vigil.cloud")


class BindError(OSError):
    """The gRPC port could not be bound (another process holds it)."""


def server_credentials(tls) -> grpc.ServerCredentials:
    """TLS credentials from ``server.tls``; with ``client_ca_file`` edges must present a certificate it signed."""
    try:
        key, cert = tls.key_file.read_bytes(), tls.cert_file.read_bytes()
        ca = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    except OSError as exc:
        raise BindError(f"server.tls: cannot read {exc.filename}: {exc.strerror}") from None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def probe_bind(host: str, port: int) -> None:
    """Raise BindError when ``host:port`` cannot be bound (taken by another process)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does: TIME_WAIT is no conflict
        try:
            sock.bind(addr)
        except OSError as exc:
            raise BindError(f"cannot listen on {host}:{port}: {exc.strerror.lower()} "
                            "(another vigil-cloud running?)") from None


def open_grpc_server(s, servicer: pb_grpc.IngestServicer, health: CloudHealth) -> tuple[grpc.aio.Server, int]:
    """The ingest gRPC server for ``server`` settings ``s`` (TLS or an allowed plaintext), bound, not started.
    Raises BindError with a one-line reason."""
    limit = s.max_packet_bytes + s.transport_headroom_bytes
    # so_reuseport off: a second cloud on an occupied port must fail, not share the edges.
    # A fixed HTTP/2 window (BDP probing off): with auto-growth each edge's stream could buffer
    # megabytes in the transport under overload (1.5 GB RSS at 3000 cameras).
    window = [] if s.stream_window_bytes is None else [("grpc.http2.bdp_probe", 0),
                                                        ("grpc.http2.lookahead_bytes", s.stream_window_bytes)]
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit),
                                      ("grpc.so_reuseport", 0), *window])
    pb_grpc.add_IngestServicer_to_server(servicer, server)
    health.attach(server)
    address = f"{s.host}:{s.port}"
    if s.tls is None:
        allowed, why = plaintext_allowed(s.host, s.plaintext)
        if not allowed:
            raise BindError(f"refusing to serve {address} without TLS: {why}")
        if why == "plaintext: true":
            log.warning("PLAINTEXT gRPC on %s: edge tokens and frames cross the network unencrypted "
                        "(server.plaintext is set; configure server.tls)", address)
    probe_bind(s.host, s.port)  # before gRPC, whose own bind failure also prints a C++ log line
    try:
        if s.tls is not None:
            port = server.add_secure_port(address, server_credentials(s.tls))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio raises RuntimeError("Failed to bind ...")
        raise BindError(f"cannot listen on {address}: port in use or not available") from None
    if port == 0:
        raise BindError(f"cannot listen on {address}: port in use or not available")
    return server, port
