"""A webhook receiver process for benchmarks/load.py: verifies signatures, records each request, answers 200.

Writes one JSON line per request to ``--out``: webhook-id, alert_id, stage, receive time, signature ok.
Kept apart from the sample receiver so the benchmark measures the cloud, not a printing receiver.
"""
from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import time

from vigil.signing import verify


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
            with lock:
                out.write(json.dumps({"id": self.headers.get("webhook-id"), "alert_id": doc.get("alert_id"),
                                      "stage": doc.get("stage"), "status": doc.get("description_status"),
                                      "t": now, "ok": ok}) + "\n")
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
