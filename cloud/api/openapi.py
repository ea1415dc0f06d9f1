"""The API's OpenAPI 3.1 document, written by hand (aiohttp has no generator; the routes are few)."""
from __future__ import annotations

from vigil import __version__

_AUTH = [{"bearer": []}, {"query_token": []}]


def _q(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _p(name: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _ok(description: str, content: str = "application/json") -> dict:
    return {"200": {"description": description, "content": {content: {}}},
            "401": {"description": "no token or a wrong token"}}


EVENT_FILTERS = [
    _q("camera", {"type": "string"}, "only this camera"),
    _q("label", {"type": "string"}, "only events that saw this label"),
    _q("min_severity", {"type": "number"}, "only events at least this severe (0..1)"),
    _q("since", {"type": "number"}, "onset at or after this Unix time"),
    _q("until", {"type": "number"}, "onset before this Unix time"),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
    _q("offset", {"type": "integer", "minimum": 0}, "events to skip (next_offset of the previous page)"),
]


def document() -> dict:
    paths = {
        "/healthz": {"get": {"summary": "the process is up", "security": [], "responses": {"200": {"description": "ok"}}}},
        "/readyz": {"get": {"summary": "ingest listening and the store open", "security": [],
                            "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": _ok("metrics", "text/plain")}},
        "/api/v1/cameras": {"get": {"summary": "cameras with live state", "responses": _ok("cameras")}},
        "/api/v1/events": {"get": {"summary": "events, newest first", "parameters": EVENT_FILTERS,
                                   "responses": _ok("a page of events")}},
        "/api/v1/events/{alert_id}": {"get": {"summary": "one event with its stages", "parameters": [_p("alert_id", {"type": "string"})],
                                              "responses": {**_ok("the event"), "404": {"description": "unknown event"}}}},
        "/api/v1/events/{alert_id}/snapshot": {"get": {"summary": "the event's semantic frame (JPEG)",
                                                       "parameters": [_p("alert_id", {"type": "string"})],
                                                       "responses": {**_ok("JPEG", "image/jpeg"), "404": {"description": "no image"}}}},
        "/api/v1/images/{image_id}": {"get": {"summary": "one evidence image (JPEG)", "parameters": [_p("image_id", {"type": "integer"})],
                                              "responses": {**_ok("JPEG", "image/jpeg"), "404": {"description": "unknown image"}}}},
        "/api/v1/cameras/{camera_id}/webrtc": {"post": {
            "summary": "live view: a WebRTC offer for the camera, relayed to its edge; returns the answer",
            "parameters": [_p("camera_id", {"type": "string"})],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["sdp", "type"],
                "properties": {"sdp": {"type": "string"}, "type": {"const": "offer"}}}}}},
            "responses": {**_ok("the answer {sdp, type}"), "400": {"description": "bad body or SDP refused by the edge"},
                          "404": {"description": "no connected edge has the camera"}}}},
        "/api/v1/stream": {"get": {"summary": "server-sent events: one `event` message per event change",
                                   "responses": _ok("event stream", "text/event-stream")}},
    }
    return {"openapi": "3.1.0", "info": {"title": "Vigil operator API", "version": __version__},
            "security": _AUTH, "paths": paths,
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                               "query_token": {"type": "apiKey", "in": "query", "name": "token"}}}}
