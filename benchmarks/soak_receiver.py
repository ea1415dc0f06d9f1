"""The soak's webhook receiver, a process of its own: verifies each signature, answers 200, and writes
one JSON line per request with what the soak scores (benchmarks/soak.py): the stage, its status and
timeout reason, the event it belongs to, its boxes, and when it arrived.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vigil.signing import verify

KEPT = ("alert_id", "stage", "camera_id", "event_id", "event_onset", "description_status", "timeout_reason",
        "description_error", "emitted_at", "severity", "detections", "labels")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    out = open(a.out, "a", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive: the cloud reuses its connections

        def log_message(self, *args):
            pass

        def do_POST(self):
            now = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = verify(a.secret, dict(self.headers.items()), body)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            rec = {"id": self.headers.get("webhook-id"), "t": now, "ok": ok, **{k: doc.get(k) for k in KEPT}}
            with lock:
                out.write(json.dumps(rec) + "\n")
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
