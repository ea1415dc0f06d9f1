"""The API's OpenAPI 3.1 document, written by hand (aiohttp has no generator; the routes are few).

Every JSON answer has its schema under ``components/schemas``; the description's schema is the one
the model's output is constrained to (cloud/answer/schema.py), so the two cannot drift apart.
``/docs`` renders this document.
"""
from __future__ import annotations

from cloud.answer.schema import EventDescription
from vigil import __version__

_AUTH = [{"bearer": []}, {"query_token": []}]
REF = "#/components/schemas/"


def _q(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _p(name: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _ref(name: str) -> dict:
    return {"$ref": REF + name}


def _ok(description: str, schema: str | None = None, content: str = "application/json") -> dict:
    body = {"schema": _ref(schema)} if schema else {"schema": {"type": "string", "format": "binary"}} \
        if content.startswith("image/") else {"schema": {"type": "string"}}
    return {"200": {"description": description, "content": {content: body}},
            "401": {"description": "no token or a wrong token", "content": {"application/json": {"schema": _ref("Error")}}}}


def _missing(what: str) -> dict:
    return {"404": {"description": what, "content": {"application/json": {"schema": _ref("Error")}}}}


_NUM, _STR, _INT, _BOOL = {"type": "number"}, {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
# Alert stages (docs/events.md): the description's (detected, described, redescribed) and the object's (updated, ended).
_STAGES = ["detected", "updated", "ended", "described", "redescribed"]
_NULLABLE_NUM = {"type": ["number", "null"]}


def _description_schemas() -> dict:
    """EventDescription and the models it refers to, their references pointed at components/schemas."""
    schema = EventDescription.model_json_schema(ref_template=REF + "{model}")
    nested = schema.pop("$defs", {})
    schema["description"] = ("what the model wrote (for a model that cannot see images: what the edge measured, "
                             "threat level 0)")
    return {**nested, "Description": schema}


SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {**_STR, "description": "what is wrong, in one line"}}},
    "Box": {"type": "object", "description": "one detection of the edge, in the pixels of the image it belongs to",
            "properties": {"label": _STR, "score": _NUM,
                           "box": {"type": "array", "items": _NUM, "minItems": 4, "maxItems": 4,
                                   "description": "x1, y1, x2, y2"}}},
    "Image": {"type": "object", "description": "an image of the event, as the edge sent it (fetch it at /api/v1/images/{image_id})",
              "properties": {"image_id": _INT, "kind": {**_STR, "description": "semantic_frame, evidence, best_snapshot, ..."},
                             "created": {**_NUM, "description": "Unix seconds"}, "width": _INT, "height": _INT,
                             "size": {**_INT, "description": "bytes"}, "boxes": {"type": "array", "items": _ref("Box")}}},
    "Stage": {"type": "object", "properties": {
        "stage": {"enum": _STAGES}, "status": {"enum": ["pending", "ok", "timeout", "error"]},
        "at": {**_NUM, "description": "Unix seconds, when the cloud recorded it"}, "error": _STR,
        "id": {**_STR, "description": "the stage's idempotency key, as its webhook carried it"},
        "escalation": {**_STR, "description": "updated: zone, dwell, rule or count"},
        "sequence": {**_INT, "description": "updated: the edge packet's number"},
        "ended_at": {"type": ["number", "null"], "description": "ended: the object's last sighting, Unix seconds at the edge"},
        "duration_s": {"type": ["number", "null"], "description": "ended: from first confirmed sighting to last"},
        "merged_into": {**_STR, "description": "ended: the event this duplicate was merged into"}}},
    **_description_schemas(),
    "Model": {"type": "object", "description": "who wrote the description",
              "properties": {"name": _STR, "sees_images": {**_BOOL, "description": "false: the model reads the "
                                                           "prompt, not the pixels; the description is the edge's measurements"},
                             "note": _STR}},
    "Delivery": {"type": "object", "description": "one alert stage's delivery to one sink",
                 "additionalProperties": True, "properties": {"stage": _STR, "sink": _STR}},
    "EventSummary": {"type": "object", "properties": {
        "alert_id": _STR, "edge_id": _STR, "camera_id": _STR, "event_id": _STR,
        "onset": {**_NUM, "description": "Unix seconds at the edge, when the event began"},
        "updated": {**_NUM, "description": "Unix seconds, the last change"},
        "stage": {"enum": _STAGES, "description": "the latest stage"},
        "status": {"enum": ["pending", "ok", "timeout", "error"]},
        "severity": {**_NUM, "description": "the edge's weight of the event, 0..1"},
        "threat_level": {"type": ["integer", "null"], "description": "the description's 0..2; null until described"},
        "summary": _STR,
        "labels": {"type": "object", "additionalProperties": _INT, "description": "label -> count"},
        "hints": {"type": "object", "description": "the edge's measurements: counts, zone, dwell_seconds, rule, ..."},
        "description": {"oneOf": [_ref("Description"), {"type": "null"}]},
        "model": {"oneOf": [_ref("Model"), {"type": "null"}]},
        "images": {"type": "array", "items": _ref("Image")},
        "thumbnail_id": {"type": ["integer", "null"], "description": "the image that shows the object best"},
        "thumbnail_box": {"oneOf": [_ref("Box"), {"type": "null"}]},
        "reviewed_at": {**_NULLABLE_NUM, "description": "Unix seconds of the acknowledgement; null: still to review"}}},
    "Event": {"allOf": [_ref("EventSummary"), {"type": "object", "properties": {
        "stages": {"type": "array", "items": _ref("Stage")},
        "deliveries": {"type": "array", "items": _ref("Delivery")}}}]},
    "EventPage": {"type": "object", "properties": {
        "events": {"type": "array", "items": _ref("EventSummary")}, "total": _INT,
        "next_offset": {"type": ["integer", "null"], "description": "offset of the next page; null on the last"}}},
    "Camera": {"type": "object", "properties": {
        "camera_id": _STR, "edge_id": _STR, "name": _STR,
        "state": {"enum": ["live", "idle", "offline", "connecting", "reconnecting", "failed"]},
        "camera_state": {**_STR, "description": "as the edge last reported it"},
        "cause": {**_STR, "description": "why the camera is not streaming, in one line"},
        "fps": {"type": ["number", "null"]}, "events": _INT, "last_event": _NULLABLE_NUM}},
    "CameraList": {"type": "object", "properties": {"cameras": {"type": "array", "items": _ref("Camera")}}},
    "Health": {"type": "object", "properties": {"status": {"const": "ok"}}},
    "Ready": {"type": "object", "properties": {"ready": _BOOL}},
    "Answer": {"type": "object", "required": ["sdp", "type"], "properties": {"sdp": _STR, "type": {"const": "answer"}}},
}

EVENT_FILTERS = [
    _q("camera", _STR, "only this camera"),
    _q("label", _STR, "only events that saw this label"),
    _q("min_severity", _NUM, "only events at least this severe (0..1)"),
    _q("since", _NUM, "onset at or after this Unix time"),
    _q("until", _NUM, "onset before this Unix time"),
    _q("reviewed", _BOOL, "true: acknowledged events only; false: those still to review"),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
    _q("offset", {"type": "integer", "minimum": 0}, "events to skip (next_offset of the previous page)"),
]
_ALERT_ID = [_p("alert_id", _STR)]
# Sections of /docs, in the order an operator meets them.
TAGS = {"events": "what the cameras saw, their descriptions and their review",
        "images": "the pictures of an event",
        "cameras": "cameras and their live view",
        "service": "health, readiness and metrics (no token needed)"}


def _tag(path: str) -> str:
    if "/images/" in path or path.endswith(("/snapshot", "/thumbnail")):
        return "images"
    if path.startswith("/api/v1/events") or path == "/api/v1/stream":
        return "events"
    return "cameras" if path.startswith("/api/v1/cameras") else "service"


def document() -> dict:
    paths = {
        "/healthz": {"get": {"summary": "the process is up", "security": [],
                             "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": _ref("Health")}}}}}},
        "/readyz": {"get": {"summary": "ingest listening and the store open", "security": [],
                            "responses": {"200": {"description": "ready", "content": {"application/json": {"schema": _ref("Ready")}}},
                                          "503": {"description": "not ready", "content": {"application/json": {"schema": _ref("Ready")}}}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [],
                             "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": _STR}}}}}},
        "/api/v1/cameras": {"get": {"summary": "cameras with live state", "responses": _ok("cameras", "CameraList")}},
        "/api/v1/events": {"get": {"summary": "events, newest first", "parameters": EVENT_FILTERS,
                                   "responses": {**_ok("a page of events", "EventPage"),
                                                 "400": {"description": "a filter that is not a number or a boolean",
                                                         "content": {"application/json": {"schema": _ref("Error")}}}}}},
        "/api/v1/events/{alert_id}": {"get": {"summary": "one event with its stages and deliveries", "parameters": _ALERT_ID,
                                              "responses": {**_ok("the event", "Event"), **_missing("unknown event")}}},
        "/api/v1/events/{alert_id}/review": {
            "post": {"summary": "acknowledge the event (reviewed); acknowledging again keeps the first time",
                     "parameters": _ALERT_ID, "responses": {**_ok("the event", "Event"), **_missing("unknown event")}},
            "delete": {"summary": "take the acknowledgement back (to review again)",
                       "parameters": _ALERT_ID, "responses": {**_ok("the event", "Event"), **_missing("unknown event")}}},
        "/api/v1/events/{alert_id}/snapshot": {"get": {"summary": "the event's thumbnail image as sent (JPEG)",
                                                       "parameters": _ALERT_ID,
                                                       "responses": {**_ok("JPEG", content="image/jpeg"), **_missing("no image")}}},
        "/api/v1/events/{alert_id}/thumbnail": {"get": {
            "summary": "the event's object: its best image cropped around the best detection, the box drawn (JPEG)",
            "parameters": _ALERT_ID, "responses": {**_ok("JPEG", content="image/jpeg"), **_missing("no image")}}},
        "/api/v1/images/{image_id}": {"get": {
            "summary": "one image of an event (JPEG)",
            "parameters": [_p("image_id", _INT), _q("boxes", _BOOL, "true: draw the edge's detections into it")],
            "responses": {**_ok("JPEG", content="image/jpeg"), **_missing("unknown image")}}},
        "/api/v1/cameras/{camera_id}/webrtc": {"post": {
            "summary": "live view: a WebRTC offer for the camera, relayed to its edge; returns the answer",
            "parameters": [_p("camera_id", _STR)],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["sdp", "type"],
                "properties": {"sdp": _STR, "type": {"const": "offer"}}}}}},
            "responses": {**_ok("the answer", "Answer"),
                          "400": {"description": "bad body or SDP refused by the edge", "content": {"application/json": {"schema": _ref("Error")}}},
                          **_missing("no connected edge has the camera")}}},
        "/api/v1/stream": {"get": {"summary": "server-sent events: one `event` message per event change, "
                                              "its data an EventSummary with stages",
                                   "responses": _ok("event stream", content="text/event-stream")}},
    }
    for path, ops in paths.items():
        for op in ops.values():
            op["tags"] = [_tag(path)]
    return {"openapi": "3.1.0",
            "info": {"title": "Vigil operator API", "version": __version__,
                     "description": "Events, images and cameras of a Vigil cloud. Send `Authorization: Bearer <token>` "
                                    "(or `?token=` where a browser cannot set headers). Times are Unix seconds."},
            "security": _AUTH, "paths": paths, "tags": [{"name": n, "description": d} for n, d in TAGS.items()],
            "components": {"schemas": SCHEMAS,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                               "query_token": {"type": "apiKey", "in": "query", "name": "token"}}}}
