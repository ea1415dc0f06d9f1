"""A webhook receiver process for the benchmarks (load.py, soak.py): verifies signatures, records each request,
answers 200.

Writes one JSON line per request to ``--out``: webhook-id, alert_id, stage, receive time, signature ok, and
the body fields named by ``--keep``.
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
    ap.add_argument("--flaky", action="store_true",
                    help="drop the connection without an answer on the first request of each webhook-id (a "
                         "transient read error, as a receiver just back from an outage gives); such a request is "
                         "recorded with ok false")
    ap.add_argument("--keep", default="", help="comma-separated body fields recorded too (what the soak scores)")
    a = ap.parse_args(argv)
    keep = tuple(f for f in a.keep.split(",") if f)
    out = open(a.out, "a", buffering=1)
    lock = threading.Lock()
    seen_ids: set[str] = set()

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
            wid = self.headers.get("webhook-id") or ""
            with lock:
                drop = a.flaky and wid not in seen_ids
                seen_ids.add(wid)
            if drop:
                with lock:
                    out.write(json.dumps({"id": wid, "alert_id": doc.get("alert_id"), "stage": doc.get("stage"),
                                          "status": doc.get("description_status"), "t": now, "ok": False,
                                          "dropped": True}) + "\n")
                self.close_connection = True
                return
            with lock:
                out.write(json.dumps({"id": self.headers.get("webhook-id"), "alert_id": doc.get("alert_id"),
                                      "stage": doc.get("stage"), "status": doc.get("description_status"),
                                      "t": now, "ok": ok, **{k: doc.get(k) for k in keep}}) + "\n")
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
