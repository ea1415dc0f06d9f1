"""Cloud (fake model, API on a free port) and edge (sample clip) on a background event loop, for tests
that drive them from the test thread (a browser, an HTTP client)."""
import asyncio
import threading

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from tests.helpers.cloud_fakes import FakeEngine

TOKEN = "operator-test-token"


class System:
    """Cloud + edge on a background event loop, so the browser can be driven from the test thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _start(self):
        cfg = load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0}, "alerts": {"outbox_path": None},
            "api": {"host": "127.0.0.1", "port": 0, "tokens": [TOKEN]}, "store": {"path": None}})
        self.cloud = CloudService(cfg, engine=FakeEngine(delay=0.3), sinks=[])
        port = await self.cloud.start()
        edge = load_edge_config(environ={}, overrides={
            "cameras": [{"id": "cam-1", "name": "Bikes", "url": "sample:bikes.mp4", "fps": 5, "loop": True}],
            "cloud": {"target": f"127.0.0.1:{port}", "results_grace_s": 5}})
        self.agent = EdgeAgent(edge)
        self.run = asyncio.ensure_future(self.agent.run())
        return self.cloud.api.port

    def __enter__(self):
        self.thread.start()
        self.api_port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    async def _stop(self):
        self.agent.stop()
        await asyncio.wait_for(self.run, 30)
        await self.cloud.stop()

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
