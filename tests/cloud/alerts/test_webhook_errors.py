"""A webhook that cannot be delivered says why in plain words, against real sockets: connection refused,
DNS failure, timeout, TLS, a receiver that hangs up."""
import asyncio
import socket
import threading

import pytest

from cloud.alerts.alert import Alert
from cloud.alerts.sinks.base import DeliveryError
from cloud.alerts.sinks.webhook import WebhookSink
from tests.helpers import free_port


def _alert():
    return Alert(alert_id="a1", stage="detected", edge_id="e", camera_id="c", event_id="ev", event_onset=1.0,
                 labels={"person": 1}, detections=[], severity=0.5)


def _fail(url: str, timeout_s: float = 2.0) -> str:
    async def go():
        sink = WebhookSink(url, "secret-for-tests", timeout_s=timeout_s)
        try:
            with pytest.raises(DeliveryError) as err:
                await sink.send(_alert())
            return str(err.value)
        finally:
            await sink.close()
    return asyncio.run(go())


class _Server:
    """Accepts connections and then does `behaviour` with each: 'silent' (never answers) or 'hangup'."""

    def __init__(self, behaviour: str):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.behaviour, self.conns = behaviour, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.behaviour == "hangup":
                conn.recv(65536)
                conn.close()
            elif self.behaviour == "plain-http":      # answers a TLS ClientHello with plain HTTP
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()
            else:
                self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_refused_is_connection_refused():
    port = free_port()
    msg = _fail(f"http://127.0.0.1:{port}/alerts")
    assert f"connection refused by 127.0.0.1:{port}" in msg
    assert "ConnectError" not in msg and "All connection attempts failed" not in msg


def test_unknown_host_is_a_dns_failure():
    assert "DNS failure: cannot resolve host 'nonexistent.invalid'" in _fail("http://nonexistent.invalid/alerts")


@pytest.mark.parametrize("behaviour, words", [
    ("silent", "accepted the connection but did not answer within 0.5 s"),
    ("hangup", "closed the connection without an answer"),
])
def test_a_receiver_that_does_not_answer(behaviour, words):
    srv = _Server(behaviour)
    try:
        assert words in _fail(f"http://127.0.0.1:{srv.port}/alerts", timeout_s=0.5)
    finally:
        srv.close()


def test_https_to_a_plain_http_server_is_a_tls_failure():
    srv = _Server("plain-http")
    try:
        msg = _fail(f"https://127.0.0.1:{srv.port}/alerts")
    finally:
        srv.close()
    assert f"TLS handshake with 127.0.0.1:{srv.port} failed (WRONG_VERSION_NUMBER)" in msg


def test_a_reset_connection_is_a_hang_up():
    import errno

    import httpx

    from cloud.alerts.sinks.webhook import transport_cause
    req = httpx.Request("POST", "http://127.0.0.1:8080/alerts")
    try:
        raise httpx.ReadError("reset", request=req) from ConnectionResetError(errno.ECONNRESET, "reset by peer")
    except httpx.ReadError as exc:
        assert transport_cause(exc, 5.0) == "127.0.0.1:8080 closed the connection without an answer (reset)"
