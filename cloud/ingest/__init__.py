"""The edges' way in: the gRPC server (grpc_server.py: bind, TLS), the ingest service (service.py:
Hello, checks, Acks), packet checks and limits, authentication, de-duplication, rate limits,
admission and the local CA for TLS."""
