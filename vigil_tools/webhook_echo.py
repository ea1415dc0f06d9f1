"""A small real HTTP webhook receiver: verifies Vigil signatures and prints alerts.

Used by ``make demo``, by the ``webhook-echo`` compose service and by the
integration tests (which can make it answer 500 a few times to test retries).
Copy it as the starting point of your own receiver: it does what every receiver
should: checks the signature and its timestamp window, processes each
``webhook-id`` once (a retry or a replayed request is answered 200 and
ignored), and answers a missing, malformed or lying ``Content-Length`` with a
4xx instead of a traceback or a hang.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vigil.demo_secrets import DEMO_VALUES, demo_flag, refusal
from vigil.recent import RecentSet
from vigil.signing import ID_HEADER_SW, SIGNATURE_HEADER, verify

MAX_BODY_BYTES = 1024 * 1024
REMEMBERED_IDS = 100_000      # webhook-ids kept for replay detection (far more than fit the signature window)
READ_TIMEOUT_S = 10.0         # a client that declares more body than it sends is cut off after this


@dataclass
class Received:
    body: dict
    headers: dict
    signature_ok: bool
    at: float = field(default_factory=time.time)


class WebhookReceiver:
    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0, fail_first: int = 0,
                 quiet: bool = False, on_alert=None):
        self.secret = secret
        self.fail_first = fail_first
        self.quiet = quiet
        self.on_alert = on_alert
        self.received: list[Received] = []
        self.requests = 0
        self.duplicates = 0
        self._seen: RecentSet[str] = RecentSet(REMEMBERED_IDS)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep stdout for alerts
                pass

            timeout = READ_TIMEOUT_S

            def do_GET(self):  # container healthcheck
                if self.path != "/healthz":
                    self.send_error(404)
                    return
                body = b'{"healthy": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _reply(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                raw = self.headers.get("Content-Length")
                if raw is None:
                    self._reply(411)
                    return
                try:
                    length = int(raw)
                except ValueError:
                    length = -1
                if length < 0:
                    self.close_connection = True
                    self._reply(400)
                    return
                if length > MAX_BODY_BYTES:
                    self.close_connection = True
                    self._reply(413)
                    return
                try:
                    body = self.rfile.read(length)
                except OSError:  # includes the read timeout: the client sent less than it declared
                    self.close_connection = True
                    return
                if len(body) < length:
                    self.close_connection = True
                    self._reply(400)
                    return
                self._reply(receiver._handle(dict(self.headers.items()), body))

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-echo", daemon=True)

    def _handle(self, headers: dict, body: bytes) -> int:
        with self._lock:
            self.requests += 1
            if self.requests <= self.fail_first:
                return 500
        ok = verify(self.secret, headers, body)
        if not ok:
            if not self.quiet:
                print("webhook-echo: REJECTED request with a bad or missing signature", flush=True)
            return 401
        try:
            payload = json.loads(body)
        except ValueError:
            return 400
        lower = {k.lower(): v for k, v in headers.items()}
        key = lower.get(ID_HEADER_SW) or lower.get(SIGNATURE_HEADER.lower(), "")
        with self._lock:
            if not self._seen.add(key):
                # A retry of a stage we already have, or a replayed request: done before, do nothing.
                self.duplicates += 1
                return 200
            self.received.append(Received(payload, headers, ok))
        if not self.quiet:
            print(format_alert(payload), flush=True)
        if self.on_alert:
            self.on_alert(payload)
        return 200

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def stages(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for r in self.received:
            out.setdefault(r.body["alert_id"], []).append(r.body)
        return out


PRETTY_INDENT = 2
FIELD_ORDER = ("summary", "threat_level", "objects", "action")   # what a person reads first


def format_alert(a: dict) -> str:
    """One header line per alert; a description follows as indented JSON, non-ASCII text as itself."""
    head = f"[alert {a['alert_id'][:8]}] {a['stage']:<9} camera={a['camera_id']} event={a['event_id']}"
    if a["stage"] == "detected":
        labels = ", ".join(f"{v} {k}" for k, v in a.get("labels", {}).items()) or "-"
        return f"{head} objects: {labels} (severity {a.get('severity', 0):.2f})"
    status = a.get("description_status")
    model = a.get("model") or {}
    if model:   # who wrote it, and whether it could see the frames
        head += f" model={model.get('name')}" + ("" if model.get("sees_images") else
                                                 " (cannot see images: what the edge measured)")
    if status == "ok" and a.get("description"):
        desc = a["description"]
        ordered = {**{k: desc[k] for k in FIELD_ORDER if k in desc}, **desc}
        pretty = json.dumps(ordered, indent=PRETTY_INDENT, ensure_ascii=False)
        return f"{head} description:\n{pretty}"
    return f"{head} description {status}: {a.get('description_error', '')}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vigil-webhook-echo", description="Receive Vigil alert webhooks, verify "
                                "their HMAC-SHA256 signatures and print them.")
    from vigil import __version__
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--secret", default=os.environ.get("VIGIL_WEBHOOK_SECRET", ""),
                   help="shared secret (default: $VIGIL_WEBHOOK_SECRET)")
    p.add_argument("--demo", action="store_true", default=demo_flag(),
                   help="accept the published demo secret (default: $VIGIL_DEMO)")
    args = p.parse_args(argv)
    if not args.demo and args.secret in DEMO_VALUES:
        print(refusal("vigil-webhook-echo", ["VIGIL_WEBHOOK_SECRET"]), file=sys.stderr)
        return 2
    if len(args.secret) < 8:
        print("vigil-webhook-echo: a secret of at least 8 characters is needed (--secret or VIGIL_WEBHOOK_SECRET)",
              file=sys.stderr)
        return 2
    rx = WebhookReceiver(args.secret, args.host, args.port).start()
    print(f"webhook-echo listening on {args.host}:{rx.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        rx.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
