"""The operator's HTTP API (aiohttp): events, images, cameras, a live event stream, the page, /metrics.

Routes under ``/api/v1`` need a token: ``Authorization: Bearer <token>``, or ``?token=`` for what a
browser fetches by itself (``EventSource`` and ``<img>`` cannot set headers). ``/healthz``,
``/readyz``, ``/metrics``, ``/openapi.json``, ``/docs`` and the page itself are open (they hold no data).
The event stream is server-sent events: every change of an event (a stage, an image, a review) is
pushed as one ``event`` message carrying the event as ``/api/v1/events/{id}`` returns it.
An operator acknowledges an event with ``POST /api/v1/events/{id}/review`` (``DELETE`` takes it back);
``/docs`` renders ``/openapi.json`` with a vendored copy of Redoc (nothing is fetched from outside).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path
from typing import Callable

from aiohttp import web

from cloud.api.live_relay import LiveRefused, LiveUnavailable
from cloud.api.openapi import document
from cloud.api.picture import render
from cloud.store.events import EventFilter

log = logging.getLogger("vigil.api")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
API_PREFIX = "/api/v1/"
# Events queued per stream client before it is dropped as too slow (a browser tab left in the background).
STREAM_QUEUE = 256
SHUTDOWN_GRACE_S = 1.0  # open requests (event streams) get this long to finish at stop

STORE = web.AppKey("store", object)
LIVE = web.AppKey("live", object)
TOKENS = web.AppKey("tokens", list)
SUBSCRIBERS = web.AppKey("subscribers", set)
READY = web.AppKey("ready", object)
METRICS = web.AppKey("metrics", object)
KEEPALIVE = web.AppKey("keepalive", float)
RELAY = web.AppKey("relay", object)
LIVE_TIMEOUT = web.AppKey("live_timeout", float)
DELIVERIES = web.AppKey("deliveries", object)


def _token_ok(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer "):] if header.startswith("Bearer ") else request.query.get("token", "")
    return bool(given) and any(hmac.compare_digest(given.encode(), t.encode()) for t in request.app[TOKENS])


@web.middleware
async def _auth(request: web.Request, handler):
    if request.path.startswith(API_PREFIX) and not _token_ok(request):
        return web.json_response({"error": "missing or wrong token"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="vigil"'})
    return await handler(request)


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes"), ("0", "false", "no")


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name, "").lower()
    if raw == "":
        return None
    if raw in TRUE_WORDS or raw in FALSE_WORDS:
        return raw in TRUE_WORDS
    raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be true or false, got {raw!r}"}),
                             content_type="application/json")


def _number(request: web.Request, name: str, cast=float):
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return cast(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be a number, got {raw!r}"}),
                                 content_type="application/json") from None


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[READY]()
    return web.json_response({"ready": ready}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS](), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


async def cameras(request: web.Request) -> web.Response:
    live = {c["camera_id"]: c for c in request.app[LIVE].cameras()} if request.app[LIVE] else {}
    out = []
    for c in request.app[STORE].cameras():
        out.append({**c, **live.pop(c["camera_id"], {"state": "offline"})})
    out.extend({**c, "events": 0, "last_event": None} for c in live.values())
    return web.json_response({"cameras": sorted(out, key=lambda c: c["camera_id"])})


async def events(request: web.Request) -> web.Response:
    flt = EventFilter(camera_id=request.query.get("camera") or None, label=request.query.get("label") or None,
                      min_severity=_number(request, "min_severity"), since=_number(request, "since"),
                      until=_number(request, "until"), reviewed=_flag(request, "reviewed"))
    page = request.app[STORE].list_events(flt, limit=_number(request, "limit", int) or 50,
                                          offset=_number(request, "offset", int) or 0)
    return web.json_response(page)


async def event(request: web.Request) -> web.Response:
    ev = request.app[STORE].get_event(request.match_info["alert_id"])
    if ev is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "unknown event"}), content_type="application/json")
    ev["deliveries"] = request.app[DELIVERIES](ev["alert_id"])
    return web.json_response(ev)


async def review(request: web.Request) -> web.Response:
    """POST acknowledges the event (the first time is kept); DELETE marks it to review again."""
    ev = request.app[STORE].set_reviewed(request.match_info["alert_id"], request.method == "POST")
    if ev is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "unknown event"}), content_type="application/json")
    return web.json_response(ev)


def _jpeg(data: bytes | None) -> web.Response:
    if data is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "unknown image"}), content_type="application/json")
    return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


async def _rendered(data: bytes, boxes: list[dict], crop: dict | None = None) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(None, render, data, boxes, crop)


async def image(request: web.Request) -> web.Response:
    """One image; ``?boxes=true`` draws the edge's detections into it."""
    store, image_id = request.app[STORE], int(request.match_info["image_id"])
    data = store.get_image(image_id)
    if data is not None and _flag(request, "boxes"):
        data = await _rendered(data, store.image_boxes(image_id))
    return _jpeg(data)


async def thumbnail(request: web.Request) -> web.Response:
    """The event's object: its best image cropped around the best detection, the box drawn."""
    store = request.app[STORE]
    ev = store.get_event(request.match_info["alert_id"])
    data = store.get_image(ev["thumbnail_id"]) if ev and ev["thumbnail_id"] is not None else None
    if data is not None and ev["thumbnail_box"] is not None:
        data = await _rendered(data, [], ev["thumbnail_box"])
    return _jpeg(data)


async def snapshot(request: web.Request) -> web.Response:
    store = request.app[STORE]
    image_id = store.snapshot_id(request.match_info["alert_id"])
    return _jpeg(store.get_image(image_id) if image_id is not None else None)


async def stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    queue: asyncio.Queue[dict | None] = asyncio.Queue(STREAM_QUEUE + 1)
    subs = request.app[SUBSCRIBERS]
    subs.add(queue)
    try:
        await resp.write(b": connected\n\n")
        while True:
            try:
                ev = await asyncio.wait_for(queue.get(), request.app[KEEPALIVE])
            except asyncio.TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            if ev is None:  # the server is shutting down
                break
            await resp.write(f"event: event\ndata: {json.dumps(ev)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        subs.discard(queue)
    return resp


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def webrtc_offer(request: web.Request) -> web.Response:
    """Body ``{"sdp": ..., "type": "offer"}`` -> the edge's ``{"sdp": ..., "type": "answer"}``."""
    relay = request.app[RELAY]
    if relay is None:
        return _error(404, "live view is not available on this server")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "body must be JSON: {\"sdp\": \"...\", \"type\": \"offer\"}")
    if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
        return _error(400, "body must be {\"sdp\": <SDP offer string>, \"type\": \"offer\"}")
    try:
        sdp = await relay.offer(request.match_info["camera_id"], body["sdp"], request.app[LIVE_TIMEOUT])
    except LiveUnavailable as exc:
        return _error(404, str(exc))
    except LiveRefused as exc:
        return _error(400, str(exc))
    return web.json_response({"sdp": sdp, "type": "answer"})


def publisher(app: web.Application) -> Callable[[dict | None], None]:
    """A store listener that pushes each changed event to every stream client (never blocks the writer)."""
    def publish(ev: dict | None) -> None:
        if ev is None:
            return
        for q in list(app[SUBSCRIBERS]):
            if q.qsize() < STREAM_QUEUE:
                q.put_nowait(ev)
            else:
                log.warning("event stream client too slow; dropping it")
                app[SUBSCRIBERS].discard(q)
    return publish


async def _close_streams(app: web.Application) -> None:
    for q in list(app[SUBSCRIBERS]):
        q.put_nowait(None)


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html")


# The documentation page may load only from this server: the vendored renderer would otherwise fetch
# its maker's logo from a CDN (it hides the logo when that fails). Inline styles are how it themes.
DOCS_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "worker-src 'self' blob:; connect-src 'self'")


async def docs(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "docs.html", headers={"Content-Security-Policy": DOCS_POLICY})


def make_app(store, *, tokens: list[str], live=None, ready: Callable[[], bool] = lambda: True,
             render_metrics: Callable[[], bytes] = lambda: b"", keepalive_s: float = 15.0,
             live_relay=None, live_timeout_s: float = 10.0,
             deliveries: Callable[[str], list[dict]] = lambda alert_id: []) -> web.Application:
    app = web.Application(middlewares=[_auth])
    app[STORE], app[LIVE], app[TOKENS], app[SUBSCRIBERS] = store, live, list(tokens), set()
    app[READY], app[METRICS], app[KEEPALIVE] = ready, render_metrics, keepalive_s
    app[RELAY], app[LIVE_TIMEOUT], app[DELIVERIES] = live_relay, live_timeout_s, deliveries
    store.listeners.append(publisher(app))
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/", page)
    app.router.add_static("/static/", WEB_DIR)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)
    app.router.add_get("/api/v1/cameras", cameras)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/events/{alert_id}", event)
    app.router.add_get("/api/v1/events/{alert_id}/snapshot", snapshot)
    app.router.add_get("/api/v1/events/{alert_id}/thumbnail", thumbnail)
    app.router.add_post("/api/v1/events/{alert_id}/review", review)
    app.router.add_delete("/api/v1/events/{alert_id}/review", review)
    app.router.add_get(r"/api/v1/images/{image_id:\d+}", image)
    app.router.add_get("/api/v1/stream", stream)
    app.router.add_post("/api/v1/cameras/{camera_id}/webrtc", webrtc_offer)
    return app


class ApiServer:
    """Runs the app on the current event loop beside the gRPC server."""

    def __init__(self, app: web.Application, host: str, port: int):
        self.app, self.host, self.port = app, host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=SHUTDOWN_GRACE_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the bound port when 0 was asked for
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
