"""Library loggers stay quiet below DEBUG: a real httpx request writes no line at INFO, and one at DEBUG."""
import io
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from vigil.logs import LIBRARY_LOGGERS, setup_logging


class _Ok(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in LIBRARY_LOGGERS})
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    for n, lvl in saved[2].items():
        logging.getLogger(n).setLevel(lvl)


@pytest.mark.parametrize("level, shown", [("INFO", False), ("DEBUG", True)])
def test_a_webhook_post_is_logged_by_httpx_only_at_debug(level, shown, restore_logging):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    out = io.StringIO()
    setup_logging(level, stream=out)
    try:
        httpx.post(f"http://127.0.0.1:{srv.server_address[1]}/alerts", content=b"{}")
        logging.getLogger("vigil.test").info("our own line")
        logging.getLogger("httpx").warning("a library's warning")
    finally:
        srv.shutdown()
        srv.server_close()
    text = out.getvalue()
    assert ("HTTP Request: POST" in text) == shown
    assert "our own line" in text and "a library's warning" in text
