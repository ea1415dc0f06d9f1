"""The edge's health endpoint: GET /healthz answers the agent's status as JSON.

200 while at least one camera streams (``status`` ok or degraded), 503 when none does
(``down``: every camera connecting, reconnecting or failed, or no camera). ``healthy`` in the
body is true only when every camera streams; each camera's ``state``, ``cause`` and ``fps`` say
which one is in trouble and why (edge/status.py has the full semantics). Container
healthchecks and monitoring poll it. Standard
library only, one daemon thread, so it adds nothing to a slim install.
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from edge.status import AgentStatus

log = logging.getLogger("vigil.edge")

HEALTH_PATH = "/healthz"
OK, UNAVAILABLE, NOT_FOUND = 200, 503, 404


class HealthServer:
    def __init__(self, snapshot: Callable[[], AgentStatus], host: str = "127.0.0.1", port: int = 0):
        self.snapshot = snapshot
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # healthchecks every few seconds would flood the log
                pass

            def do_GET(self):
                if self.path.split("?")[0] != HEALTH_PATH:
                    self.send_error(NOT_FOUND)
                    return
                status = owner.snapshot()
                body = json.dumps(status.as_dict()).encode()
                self.send_response(UNAVAILABLE if status.status == "down" else OK)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}{HEALTH_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="edge-health", daemon=True)

    def start(self) -> "HealthServer":
        self._thread.start()
        log.info("health endpoint on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
