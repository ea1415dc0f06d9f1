"""The sample receiver: replays are not processed twice, bad Content-Length gets a clean 4xx, never a hang."""
import socket
import time

import httpx

from vigil.signing import signed_headers
from vigil_tools.webhook_echo import READ_TIMEOUT_S, WebhookReceiver

SECRET = "receiver-secret-1"
BODY = b'{"alert_id":"a1","stage":"detected","camera_id":"c","event_id":"e","labels":{},"severity":0.5}'


def test_the_same_signed_request_twice_is_processed_once():
    rx = WebhookReceiver(SECRET, quiet=True).start()
    try:
        headers = signed_headers(SECRET, BODY, msg_id="a1.detected")
        answers = [httpx.post(rx.url, content=BODY, headers=headers).status_code for _ in range(2)]
        legacy = {k: v for k, v in signed_headers(SECRET, BODY).items() if not k.startswith("webhook-")}
        answers += [httpx.post(rx.url, content=BODY, headers=legacy).status_code for _ in range(2)]
    finally:
        rx.stop()
    assert answers == [200, 200, 200, 200]
    assert len(rx.received) == 2 and rx.duplicates == 2     # one per distinct request, repeats ignored


def _raw(port, request: bytes, wait_s: float = 3.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(request)
        try:
            return s.recv(1024)
        except socket.timeout:
            return b"(no answer)"


def test_bad_content_length_is_a_clean_4xx():
    rx = WebhookReceiver(SECRET, quiet=True).start()
    try:
        head = b"POST /alerts HTTP/1.1\r\nHost: x\r\n"
        assert b" 411 " in _raw(rx.port, head + b"\r\n")
        assert b" 400 " in _raw(rx.port, head + b"Content-Length: banana\r\n\r\n")
        assert b" 400 " in _raw(rx.port, head + b"Content-Length: -5\r\n\r\n")
        assert b" 413 " in _raw(rx.port, head + b"Content-Length: 99999999999\r\n\r\n")
        t0 = time.time()
        _raw(rx.port, head + b"Content-Length: 100\r\n\r\nshort", wait_s=READ_TIMEOUT_S + 5)  # lies: cut off
        assert time.time() - t0 < READ_TIMEOUT_S + 5
        ok = httpx.post(rx.url, content=BODY, headers=signed_headers(SECRET, BODY, msg_id="a1.detected"))
        assert ok.status_code == 200                                    # and it still serves
    finally:
        rx.stop()


def test_sigterm_stops_the_receiver_cleanly_and_every_alert_is_whole_lines(tmp_path):
    """docker stop sends SIGTERM: exit 0 (not 143). Concurrent alerts never share a line."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIGIL_"))}
    env["PYTHONPATH"] = str(root)
    port_file = tmp_path / "out"
    with open(port_file, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "vigil_tools.webhook_echo", "--port", "0", "--secret", SECRET],
                                stdout=out, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
        deadline = time.time() + 30
        while "listening on" not in port_file.read_text() and time.time() < deadline:
            time.sleep(0.1)
        first = port_file.read_text().splitlines()[0]
        assert first.startswith("webhook-echo listening on 127.0.0.1:")   # this host only, by default
        url = f"http://127.0.0.1:{first.rsplit(':', 1)[1]}/alerts"

        def send(i):
            body = (b'{"alert_id":"a%03d","stage":"detected","camera_id":"c","event_id":"e","labels":{"person":1},'
                    b'"severity":0.5}' % i)
            assert httpx.post(url, content=body, headers=signed_headers(SECRET, body, msg_id=f"a{i}.d")).status_code == 200

        threads = [threading.Thread(target=send, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    lines = port_file.read_text().splitlines()
    alerts = [line for line in lines if line.startswith("[alert ")]
    assert len(alerts) == 40 and all(line.count("[alert ") == (line in alerts) for line in lines)
    assert all(line.endswith("(severity 0.50)") for line in alerts)
    assert lines[-1] == "webhook-echo stopped: 40 alert stages received, 0 repeats ignored"
