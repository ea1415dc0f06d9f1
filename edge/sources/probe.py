"""Why a camera could not be opened, in one phrase an operator can act on.

OpenCV's ``VideoCapture`` answers only "not opened"; the cause (connection refused, DNS, 401)
goes to FFmpeg's own stderr, which we keep quiet below DEBUG (edge/sources/opencv.py). So after a failed
open, ``diagnose`` repeats the first steps of that open itself, each with a short timeout:

- file: does it exist, can we read it? (If so, OpenCV could not decode it: not a video, or a
  codec this build lacks.) That cause is *final*: retrying a file that will not decode is futile.
- usb: is there a ``/dev/videoN``?
- rtsp / http: resolve the host, connect to its port, then send the request that needs both
  the right path and the right credentials: RTSP ``DESCRIBE`` (``OPTIONS`` works without
  either on most cameras) or HTTP ``GET`` (only the headers are read; many MJPEG cameras
  answer ``HEAD`` with 405). A 401 is answered once with the URL's credentials (Basic or
  Digest, RFC 7616 with MD5, what cameras use), so "401" means the credentials are wrong, not
  merely that the camera asks for them.

The mapping from what was seen to the words (``cause_of_os_error``, ``cause_of_status``) is
pure and tested without sockets; the probes around it are I/O.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from edge.sources.config import CameraConfig
from vigil.redact import redact_url

# Each probe step (name lookup, connect, one request) gets at most this long: the open has already
# failed, and the operator wants the cause, not a second full timeout.
PROBE_STEP_TIMEOUT_S = 3.0
# Steps per probe (lookup, connect, request, an authenticated repeat): the worker allows this much
# longer than open_timeout_s before it gives up on an attempt that is still being diagnosed.
PROBE_STEPS = 4
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443}
MAX_HEADER_BYTES = 16 * 1024     # a status line and headers; a camera that sends more is not answering RTSP/HTTP


@dataclass(frozen=True)
class Cause:
    """What went wrong: a short ``kind`` for machines, ``text`` for people, ``final`` = do not retry."""

    kind: str
    text: str
    final: bool = False


# -- pure: what was seen -> words ----------------------------------------------------------------
def cause_of_os_error(exc: BaseException, where: str) -> Cause:
    """A socket error while connecting to ``where`` (``host:port``)."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Cause("timeout", f"timeout: no answer from {where} within {PROBE_STEP_TIMEOUT_S:g} s "
                                "(camera off, wrong address, or a firewall dropping packets)")
    if isinstance(exc, ssl.SSLError):
        return Cause("tls", f"TLS handshake with {where} failed: {getattr(exc, 'reason', None) or exc}")
    code = getattr(exc, "errno", None)
    if code == errno.ECONNREFUSED:
        return Cause("refused", f"connection refused by {where} (nothing listens on that port: wrong port, "
                                "or the camera's RTSP/HTTP service is off)")
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return Cause("unreachable", f"no route to {where} (host down or on another network)")
    if code == errno.ECONNRESET:
        return Cause("reset", f"{where} closed the connection at once (too many clients, or not this protocol)")
    return Cause("network", f"cannot connect to {where}: {getattr(exc, 'strerror', None) or exc}")


def cause_of_status(scheme: str, status: int, path: str, where: str, had_credentials: bool) -> Cause | None:
    """An RTSP/HTTP answer's status; None when the server accepted the request (the cause lies elsewhere)."""
    proto = "RTSP" if scheme.startswith("rtsp") else "HTTP"
    if 200 <= status < 300:
        return None
    if status == 401:
        if had_credentials:
            return Cause("unauthorized", f"401 unauthorized: {where} refused the user/password in the URL")
        return Cause("unauthorized", f"401 unauthorized: {where} needs a user and password "
                                     f"({scheme}://user:password@host/...)")
    if status == 403:
        return Cause("forbidden", f"403 forbidden: {where} refuses this user access to {path!r}")
    if status == 404:
        return Cause("not_found", f"404 not found: {where} has no stream at {path!r} (check the camera's stream path)")
    if proto == "RTSP" and status == 454:
        return Cause("not_found", f"454 session not found: {where} has no stream at {path!r}")
    if status >= 500:
        return Cause("server_error", f"{proto} {status}: the camera at {where} reported an internal error")
    return Cause("refused_request", f"{proto} {status}: {where} refused the request for {path!r}")


def undecodable(path: str) -> Cause:
    return Cause("unsupported", f"unsupported codec or not a video: OpenCV could not decode {path}", final=True)


def opened_but_no_stream(scheme: str, where: str, transport: str) -> Cause:
    """The server answered the request, yet OpenCV could not open the stream."""
    if scheme.startswith("rtsp"):
        other = "tcp" if transport == "udp" else "udp"
        return Cause("stream", f"{where} answers RTSP, but no video could be opened: an unsupported codec "
                               f"(H.264/H.265/MJPEG work), or RTP over {transport} blocked (try rtsp_transport: {other})")
    return Cause("stream", f"{where} answers HTTP, but not with a video stream OpenCV can decode "
                           "(an MJPEG stream is multipart/x-mixed-replace)")


# -- credentials -------------------------------------------------------------------------------
def _auth_params(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for part in _split_params(rest):
        k, _, v = part.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return scheme.lower(), params


def _split_params(text: str) -> list[str]:
    out, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def authorization(challenge: str, method: str, uri: str, user: str, password: str,
                  cnonce: str | None = None) -> str | None:
    """The Authorization header answering ``challenge`` (Basic, or Digest with MD5); None if unsupported."""
    scheme, p = _auth_params(challenge)
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if scheme != "digest" or p.get("algorithm", "MD5").upper() != "MD5":
        return None
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731 - RFC 7616's H()
    ha1, ha2 = md5(f"{user}:{p.get('realm', '')}:{password}"), md5(f"{method}:{uri}")
    fields = {"username": user, "realm": p.get("realm", ""), "nonce": p.get("nonce", ""), "uri": uri}
    if "auth" in [q.strip() for q in p.get("qop", "").split(",")]:
        cnonce, nc = cnonce or os.urandom(8).hex(), "00000001"
        fields.update(qop="auth", nc=nc, cnonce=cnonce)
        fields["response"] = md5(f"{ha1}:{fields['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    else:
        fields["response"] = md5(f"{ha1}:{fields['nonce']}:{ha2}")
    if "opaque" in p:
        fields["opaque"] = p["opaque"]
    unquoted = ("qop", "nc")
    return "Digest " + ", ".join(f"{k}={v}" if k in unquoted else f'{k}="{v}"' for k, v in fields.items())


# -- I/O ---------------------------------------------------------------------------------------
def _resolve(host: str, port: int, timeout: float) -> Cause | None:
    """None when ``host`` resolves; the lookup runs in a thread so a hanging resolver cannot hold us."""
    result: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result.append(None)
        except OSError as exc:
            result.append(exc)

    t = threading.Thread(target=lookup, name="camera-probe-dns", daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return Cause("dns", f"DNS failure: no answer resolving host {host!r} within {timeout:g} s")
    if result[0] is not None:
        return Cause("dns", f"DNS failure: cannot resolve host {host!r} (check the camera's address)")
    return None


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str]]:
    """Send ``request``; the status code and headers (lower-case names) of the answer."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEADER_BYTES:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not an RTSP/HTTP answer: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    return int(parts[1]), headers


class _Silent(Exception):
    """Connected, then no answer in time."""


def _ask(scheme: str, host: str, port: int, request: bytes, timeout: float) -> tuple[int, dict[str, str]]:
    """One request on its own connection (TLS for rtsps/https)."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        try:
            if scheme in ("rtsps", "https"):
                with ssl.create_default_context().wrap_socket(raw, server_hostname=host) as tls:
                    return _exchange(tls, request)
            return _exchange(raw, request)
        except (socket.timeout, TimeoutError):
            raise _Silent from None


def _request(scheme: str, host: str, path: str, uri: str, auth: str | None, cseq: int) -> bytes:
    if scheme.startswith("rtsp"):
        lines = [f"DESCRIBE {uri} RTSP/1.0", f"CSeq: {cseq}", "Accept: application/sdp", "User-Agent: vigil-probe"]
    else:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "User-Agent: vigil-probe", "Connection: close"]
    if auth:
        lines.append(f"Authorization: {auth}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def probe_network(url: str, transport: str = "tcp", timeout: float = PROBE_STEP_TIMEOUT_S) -> Cause:
    """Resolve, connect, ask; the first step that fails names the cause."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    host = u.hostname or ""
    try:
        port = u.port or DEFAULT_PORTS.get(scheme, 554)
    except ValueError:
        return Cause("bad_url", f"invalid port in {redact_url(url)}", final=True)
    where = f"{host}:{port}"
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    if not host:
        return Cause("bad_url", f"no host in {redact_url(url)}", final=True)
    dns = _resolve(host, port, timeout)
    if dns is not None:
        return dns
    user, password = unquote(u.username or ""), unquote(u.password or "")
    # The request URI carries no credentials: they travel in the Authorization header.
    uri = f"{scheme}://{where}{path}"
    if scheme == "rtmp":     # a binary handshake: that the port accepts is all we check
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            return cause_of_os_error(exc, where)
        return Cause("stream", f"{where} accepts connections, but no video could be opened from it")
    method = "DESCRIBE" if scheme.startswith("rtsp") else "GET"
    try:
        status, headers = _ask(scheme, host, port, _request(scheme, host, path, uri, None, 1), timeout)
        if status == 401 and user:
            # A fresh connection for the answer to the challenge: some cameras hang up after a 401.
            auth = authorization(headers.get("www-authenticate", ""), method, uri if method == "DESCRIBE" else path,
                                 user, password)
            if auth:
                status, headers = _ask(scheme, host, port, _request(scheme, host, path, uri, auth, 2), timeout)
    except _Silent:
        return Cause("timeout", f"timeout: {where} accepted the connection but did not answer within {timeout:g} s "
                                f"(not {scheme.upper()} on this port, or an overloaded camera)")
    except (OSError, ssl.SSLError) as exc:
        return cause_of_os_error(exc, where)
    except ValueError as exc:
        return Cause("protocol", f"{where} does not speak {scheme.upper()}: {exc}")
    cause = cause_of_status(scheme, status, path, where, had_credentials=bool(user))
    if cause is not None:
        return cause
    if scheme.startswith("http"):
        ctype = headers.get("content-type", "")
        if ctype and not ctype.lower().startswith(("multipart/", "image/", "video/", "application/octet-stream")):
            return Cause("stream", f"{where} answers HTTP 200 with {ctype.split(';')[0]!r}, not a video stream "
                                   "(check the stream path)")
    return opened_but_no_stream(scheme, where, transport)


def probe_file(path: str) -> Cause:
    if not os.path.exists(path):
        return Cause("file_not_found", f"file not found: {path}")
    if not os.path.isfile(path):
        return Cause("file_not_found", f"not a file: {path}")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return Cause("file_unreadable", f"file not readable: {path} ({exc.strerror})")
    return undecodable(path)


def probe_usb(index: int) -> Cause:
    dev = f"/dev/video{index}"
    if not os.path.exists(dev):
        return Cause("no_device", f"no video device {dev} (is the camera plugged in and passed to the container?)")
    if not os.access(dev, os.R_OK | os.W_OK):
        return Cause("no_device", f"{dev} is not accessible to this user (add it to the 'video' group)")
    return Cause("device", f"{dev} exists but could not be opened (busy in another program, or not a capture device)")


def diagnose(cfg: CameraConfig, timeout: float = PROBE_STEP_TIMEOUT_S) -> Cause:
    """Why ``cfg``'s source did not open (call after a failed open)."""
    kind = cfg.source_kind
    if kind == "file":
        return probe_file(str(cfg.url))
    if kind == "usb":
        return probe_usb(int(cfg.url))
    return probe_network(str(cfg.url), cfg.rtsp_transport, timeout)
