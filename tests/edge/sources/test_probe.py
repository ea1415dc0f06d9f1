"""A camera that does not open says why, in Vigil's words: against a closed port, real HTTP and RTSP
servers answering 401/404, a name that does not resolve, and a file that is not a video."""
import hashlib
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge.sources import CameraConfig, SourceError
from edge.sources.opencv import OpenCVSource
from edge.sources.probe import authorization, cause_of_status, diagnose, probe_network
from tests.helpers import free_port

QUICK = {"open_timeout_s": 3.0, "read_timeout_s": 3.0}


def _open_error(url: str) -> SourceError:
    src = OpenCVSource(CameraConfig(id="cam", url=url, reconnect=QUICK))
    with pytest.raises(SourceError) as err:
        src.open()
    return err.value


# -- pure ------------------------------------------------------------------------------------------
def test_status_codes_become_causes():
    assert cause_of_status("rtsp", 200, "/s", "h:554", False) is None
    assert cause_of_status("rtsp", 401, "/s", "h:554", True).text.startswith("401 unauthorized: h:554 refused the user")
    assert "needs a user and password" in cause_of_status("http", 401, "/s", "h:80", False).text
    assert cause_of_status("http", 404, "/video", "h:80", False).text.startswith("404 not found")
    assert cause_of_status("rtsp", 503, "/s", "h:554", False).kind == "server_error"


def test_socket_errors_become_causes():
    import errno

    from edge.sources.probe import cause_of_os_error
    assert cause_of_os_error(socket.timeout(), "h:554").text.startswith("timeout: no answer from h:554 within")
    assert cause_of_os_error(ConnectionRefusedError(errno.ECONNREFUSED, "x"), "h:554").kind == "refused"
    assert cause_of_os_error(OSError(errno.EHOSTUNREACH, "x"), "h:554").text.startswith("no route to h:554")


def test_digest_answer_matches_the_rfc_example():
    # RFC 2617 section 3.5: the same user, realm, nonce, uri and cnonce give this response.
    challenge = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                 'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    header = authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header and 'opaque="5ccc069c' in header
    assert authorization('Basic realm="cam"', "GET", "/", "a", "b") == "Basic YTpi"


# -- network: real sockets -------------------------------------------------------------------------
def test_closed_port_is_connection_refused():
    port = free_port()                    # nothing listens there
    err = _open_error(f"rtsp://127.0.0.1:{port}/cam")
    assert f"connection refused by 127.0.0.1:{port}" in err.reason and not err.final
    assert "could not open" not in str(err)


def test_unresolvable_host_is_a_dns_failure():
    err = _open_error("rtsp://nonexistent.invalid/stream1")
    assert err.reason.startswith("DNS failure: cannot resolve host 'nonexistent.invalid'")


def test_a_host_that_never_answers_is_a_timeout():
    with socket.socket() as s:             # accepts the connection (backlog) but never says a word
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        cause = probe_network(f"rtsp://127.0.0.1:{s.getsockname()[1]}/cam", timeout=0.5)
    assert cause.kind == "timeout" and "accepted the connection but did not answer within 0.5 s" in cause.text


class _Http(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/private.mjpg":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="camera"')
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def http_camera():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_http_401_and_404_are_named(http_camera):
    err = _open_error(f"http://{http_camera}/private.mjpg")
    assert err.reason.startswith("401 unauthorized") and "needs a user and password" in err.reason
    err = _open_error(f"http://admin:wrong@{http_camera}/private.mjpg")
    assert err.reason.startswith(f"401 unauthorized: {http_camera} refused the user/password")
    assert "wrong" not in str(err)                     # the password is never repeated
    err = _open_error(f"http://{http_camera}/nothing.mjpg")
    assert err.reason.startswith(f"404 not found: {http_camera} has no stream at '/nothing.mjpg'")


class _RtspCamera:
    """Answers RTSP DESCRIBE like a camera with Digest auth: 404 off its path, 401 without the right
    credentials, 200 (with an SDP naming a codec nobody decodes) with them."""

    def __init__(self, path="/stream1", user="admin", password="s3cret"):
        self.path, self.user, self.password = path, user, password
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        with conn:
            buf = b""
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    conn.sendall(self._answer(head.decode()))

    def _answer(self, head: str) -> bytes:
        lines = head.split("\r\n")
        method, uri, _ = lines[0].split(" ")
        hdr = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        cseq = hdr.get("cseq", "0")
        if method == "OPTIONS":
            return f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n".encode()
        if not uri.split(f":{self.port}", 1)[-1].startswith(self.path):
            return f"RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n".encode()
        if not self._authorised(method, hdr.get("authorization", "")):
            return (f'RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n'
                    f'WWW-Authenticate: Digest realm="cam", nonce="abc123"\r\n\r\n').encode()
        sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 X-NOPE/90000\r\n"
        return (f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n"
                f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()

    def _authorised(self, method, header):
        if not header.startswith("Digest "):
            return False
        fields = dict(p.strip().split("=", 1) for p in header[7:].split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        ha1 = md5(f"{self.user}:cam:{self.password}")
        ha2 = md5(f"{method}:{fields.get('uri')}")
        want = md5(f"{ha1}:abc123:{ha2}")
        return fields.get("username") == self.user and fields.get("response") == want

    def close(self):
        self.sock.close()


@pytest.fixture
def rtsp_camera():
    cam = _RtspCamera()
    yield cam
    cam.close()


def test_rtsp_401_404_and_right_credentials(rtsp_camera):
    where = f"127.0.0.1:{rtsp_camera.port}"
    err = _open_error(f"rtsp://admin:wrong@{where}/stream1")
    assert err.reason.startswith(f"401 unauthorized: {where} refused the user/password in the URL")
    err = _open_error(f"rtsp://admin:s3cret@{where}/stream9")
    assert err.reason.startswith(f"404 not found: {where} has no stream at '/stream9'")
    # Right path, right password: the camera answers, so the cause lies past the request.
    cause = probe_network(f"rtsp://admin:s3cret@{where}/stream1", "udp")
    assert cause.kind == "stream" and "try rtsp_transport: tcp" in cause.text


# -- files and devices -----------------------------------------------------------------------------
def test_file_causes(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    err = _open_error(str(bad))
    assert err.final and err.reason.startswith("unsupported codec or not a video")
    missing = diagnose(CameraConfig(id="c", url=str(tmp_path / "gone.mp4")))
    assert missing.kind == "file_not_found" and not missing.final        # a mount may bring it later
    assert diagnose(CameraConfig(id="c", url=97)).text.startswith("no video device /dev/video97")


# -- noise ---------------------------------------------------------------------------------------------
_NOISE_SCRIPT = """
import sys
from vigil.logs import setup_logging
setup_logging(sys.argv[1])
from edge.sources import CameraConfig, SourceError
from edge.sources.opencv import OpenCVSource
try:
    OpenCVSource(CameraConfig(id="cam", url="rtsp://127.0.0.1:%d/cam")).open()
except SourceError as exc:
    print(exc.reason)
"""


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_opencv_and_ffmpeg_lines_only_at_debug(level):
    out = subprocess.run([sys.executable, "-c", _NOISE_SCRIPT % free_port(), level], capture_output=True,
                         text=True, timeout=60)
    assert "connection refused" in out.stdout
    noisy = "VIDEOIO" in out.stderr or "[tcp @" in out.stderr
    assert noisy == (level == "DEBUG"), out.stderr
