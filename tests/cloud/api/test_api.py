"""The operator API over real sockets: frames flow in by gRPC, events come out over HTTP (fake model)."""
import asyncio
import time

import cv2
import grpc
import httpx
import numpy as np

from cloud.config import load_cloud_config
from cloud.service import CloudService
from tests.helpers.cloud_fakes import Collect, FakeEngine
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc as pb_grpc

TOKEN = "test-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _jpeg(shade):
    img = np.full((48, 64, 3), shade, np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _frame(seq, event, camera, label, severity, priority=pb.SEMANTIC_FRAME):
    return pb.EdgeMessage(frame=pb.FramePacket(
        camera_id=camera, sequence=seq, capture_time=time.time(), event_onset=time.time(), event_id=event,
        priority=priority, jpeg=_jpeg(40 * seq % 255), width=64, height=48, source_width=64, source_height=48,
        detections=[pb.Detection(box=pb.Box(x1=1, y1=1, x2=30, y2=30), label=label, score=0.9, track_id=1)],
        hints=pb.SemanticHints(counts={label: 1}, severity=severity, camera_name=camera)))


HELLO = pb.EdgeMessage(hello=pb.Hello(edge_id="demo-edge", auth_token="vigil-demo-token", agent_version="t",
                                      cameras=[pb.CameraInfo(camera_id="door", name="Front door"),
                                               pb.CameraInfo(camera_id="yard", name="Yard")]))
FRAMES = [_frame(1, "ev1", "door", "person", 0.9), _frame(2, "ev1", "door", "person", 0.9, pb.EVIDENCE),
          _frame(3, "ev2", "yard", "car", 0.2), _frame(4, "ev3", "door", "car", 0.4)]


async def _with_service(check):
    cfg = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0, "evidence_request_after_s": 0.1},
        "alerts": {"describe_deadline_s": 5, "outbox_path": None},
        "api": {"host": "127.0.0.1", "port": 0, "tokens": [TOKEN], "public_url": "http://ops.example"},
        "store": {"path": None}})
    sink = Collect()
    svc = CloudService(cfg, engine=FakeEngine(), sinks=[sink])
    port = await svc.start()
    base = f"http://127.0.0.1:{svc.api.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            before = (await http.get("/metrics")).text
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = pb_grpc.IngestStub(ch).Stream()
                for m in [HELLO, *FRAMES]:
                    await call.write(m)
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    if svc.emitted["described"] == 3:
                        break
                await svc.drain(5)
                await check(http, svc, sink, before)
                await call.done_writing()
                async for _ in call:
                    pass
    finally:
        await svc.stop()


def _metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_api_end_to_end():
    async def check(http, svc, sink, before):
        # auth: no token, wrong token -> 401; open endpoints stay open
        assert (await http.get("/api/v1/events")).status_code == 401
        assert (await http.get("/api/v1/events", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await http.get("/api/v1/events", params={"token": "nope"})).status_code == 401
        assert (await http.get("/healthz")).status_code == 200 and (await http.get("/readyz")).status_code == 200
        doc = (await http.get("/openapi.json")).json()
        assert doc["openapi"].startswith("3.") and "/api/v1/events" in doc["paths"]

        cams = (await http.get("/api/v1/cameras", headers=AUTH)).json()["cameras"]
        assert [(c["camera_id"], c["name"], c["state"]) for c in cams] == [("door", "Front door", "live"),
                                                                         ("yard", "Yard", "live")]
        page = (await http.get("/api/v1/events", headers=AUTH, params={"limit": 2})).json()
        assert page["total"] == 3 and len(page["events"]) == 2 and page["next_offset"] == 2
        rest = (await http.get("/api/v1/events", params={"token": TOKEN, "limit": 2, "offset": 2})).json()
        assert len(rest["events"]) == 1 and rest["next_offset"] is None

        def ids(r):
            return sorted(e["event_id"] for e in r.json()["events"])
        assert ids(await http.get("/api/v1/events", headers=AUTH, params={"camera": "door"})) == ["ev1", "ev3"]
        assert ids(await http.get("/api/v1/events", headers=AUTH, params={"label": "car"})) == ["ev2", "ev3"]
        assert ids(await http.get("/api/v1/events", headers=AUTH, params={"min_severity": 0.5})) == ["ev1"]
        assert ids(await http.get("/api/v1/events", headers=AUTH, params={"since": time.time() + 60})) == []
        assert (await http.get("/api/v1/events", headers=AUTH, params={"limit": "x"})).status_code == 400

        ev1 = next(e for e in page["events"] + rest["events"] if e["event_id"] == "ev1")
        one = (await http.get(f"/api/v1/events/{ev1['alert_id']}", headers=AUTH)).json()
        assert [s["stage"] for s in one["stages"]] == ["detected", "described"]
        assert one["summary"] == "a person" and one["status"] == "ok"
        assert one["description"]["narrative"] == "A person walks up to the door."   # what the page leads with
        assert {(d["stage"], d["sink"]) for d in one["deliveries"]} == {("detected", "collect"), ("described", "collect")}
        kinds = sorted(i["kind"] for i in one["images"])
        assert kinds == ["evidence", "semantic_frame"]
        evidence = next(i for i in one["images"] if i["kind"] == "evidence")
        img = await http.get(f"/api/v1/images/{evidence['image_id']}", headers=AUTH)
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(img.content, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
        assert (await http.get("/api/v1/images/999999", headers=AUTH)).status_code == 404
        assert (await http.get("/api/v1/events/nope", headers=AUTH)).status_code == 404

        # the webhook payload links to the event and its snapshot, and both resolve
        links = next(a for a in sink.alerts if a.event_id == "ev1").to_dict()["links"]
        assert links["event"] == f"http://ops.example/api/v1/events/{ev1['alert_id']}"
        snap = await http.get(links["snapshot"].replace("http://ops.example", ""), headers=AUTH)
        assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"

        # metrics moved while frames flowed
        after = (await http.get("/metrics")).text
        for name in ('vigil_cloud_ingest_total{kind="packets"}', 'vigil_cloud_alert_stages_total{stage="described"}',
                     'vigil_cloud_model_latency_seconds_count{phase="decode"}', "vigil_cloud_visual_tokens_kept_count",
                     'vigil_cloud_deliveries_total{stage="described"}'):
            assert _metric(after, name) > _metric(before, name), name
        assert _metric(after, 'vigil_cloud_camera_up{camera="door"}') == 1.0
        assert "vigil_cloud_dead_letters_total" in after and "vigil_cloud_delivery_retries_total" in after
        assert _metric(after, "vigil_cloud_outbox_dead") == 0.0 and "vigil_cloud_outbox_pending" in after

    asyncio.run(_with_service(check))


def test_event_stream_pushes_new_events():
    async def check(http, svc, sink, before):
        got = []

        async def listen():
            async with http.stream("GET", "/api/v1/stream", params={"token": TOKEN}) as resp:
                assert resp.status_code == 200
                async for line in resp.aiter_lines():
                    if line.startswith("data: "):
                        got.append(line)
                        return
        task = asyncio.create_task(listen())
        await asyncio.sleep(0.3)
        svc.store.add_image(next(iter(svc.store.list_events()["events"]))["alert_id"], "evidence", _jpeg(9), 64, 48)
        await asyncio.wait_for(task, 5)
        assert '"alert_id"' in got[0]
        assert (await http.get("/api/v1/stream")).status_code == 401

    asyncio.run(_with_service(check))


def test_retention_removes_old_events_and_their_images_from_the_api():
    async def check(http, svc, sink, before):
        page = (await http.get("/api/v1/events", headers=AUTH)).json()
        image_ids = [i["image_id"] for e in page["events"] for i in (await http.get(
            f"/api/v1/events/{e['alert_id']}", headers=AUTH)).json()["images"]]
        assert image_ids
        svc.store.clock = lambda: time.time() + 2 * svc.cfg.store.retention_days * 86_400
        assert svc.store.apply_retention() == page["total"]
        assert (await http.get("/api/v1/events", headers=AUTH)).json()["total"] == 0
        for image_id in image_ids:
            assert (await http.get(f"/api/v1/images/{image_id}", headers=AUTH)).status_code == 404

    asyncio.run(_with_service(check))


def test_speculative_acceptance_is_exported_when_the_engine_reports_it():
    from cloud.metrics import CloudMetrics

    class Engine(FakeEngine):
        def stats(self):
            return {"waiting": 2, "running": 1, "backpressure": 0.25, "kv_bytes": 4096,
                    "speculative": {"mean_accepted_length": 2.5, "acceptance_rate": 0.6}}

    cfg = load_cloud_config(environ={}, overrides={"alerts": {"outbox_path": None}, "store": {"path": None}})
    svc = CloudService(cfg, engine=Engine(), sinks=[])
    metrics = CloudMetrics()
    metrics.watch(svc)
    text = metrics.render().decode()
    assert _metric(text, "vigil_cloud_spec_mean_accepted_length") == 2.5
    assert _metric(text, "vigil_cloud_kv_bytes") == 4096.0
    assert _metric(text, 'vigil_cloud_engine_requests{state="waiting"}') == 2.0
    svc.outbox.close()
    svc.store.close()


def test_the_published_operator_token_counts_as_a_demo_credential():
    cfg = load_cloud_config(environ={}, overrides={"auth": {"tokens": {"e": "a-private-token"}}})
    assert cfg.demo_secret_keys() == ["api.tokens[0]"]
    mine = load_cloud_config(environ={}, overrides={"auth": {"tokens": {"e": "a-private-token"}},
                                                    "api": {"tokens": ["my-own-operator-token"]}})
    assert mine.demo_secret_keys() == []


def test_review_thumbnails_and_docs():
    async def check(http, svc, sink, before):
        events = (await http.get("/api/v1/events", headers=AUTH)).json()["events"]
        ev1 = next(e for e in events if e["event_id"] == "ev1")
        aid = ev1["alert_id"]
        # acknowledge, filter on it, take it back
        assert (await http.post(f"/api/v1/events/{aid}/review")).status_code == 401
        acked = (await http.post(f"/api/v1/events/{aid}/review", headers=AUTH)).json()
        assert acked["reviewed_at"] is not None

        def ids(r):
            return sorted(e["event_id"] for e in r.json()["events"])
        assert ids(await http.get("/api/v1/events", headers=AUTH, params={"reviewed": "true"})) == ["ev1"]
        assert ids(await http.get("/api/v1/events", headers=AUTH, params={"reviewed": "false"})) == ["ev2", "ev3"]
        assert (await http.get("/api/v1/events", headers=AUTH, params={"reviewed": "maybe"})).status_code == 400
        assert (await http.delete(f"/api/v1/events/{aid}/review", headers=AUTH)).json()["reviewed_at"] is None
        assert (await http.post("/api/v1/events/nope/review", headers=AUTH)).status_code == 404

        # each image keeps the edge's box; the thumbnail and ?boxes=true draw it
        one = (await http.get(f"/api/v1/events/{aid}", headers=AUTH)).json()
        assert all(i["boxes"][0]["box"] == [1.0, 1.0, 30.0, 30.0] for i in one["images"])
        assert one["thumbnail_box"]["label"] == "person"
        raw = (await http.get(f"/api/v1/images/{one['thumbnail_id']}", headers=AUTH)).content
        boxed = await http.get(f"/api/v1/images/{one['thumbnail_id']}", headers=AUTH, params={"boxes": "true"})
        thumb = await http.get(f"/api/v1/events/{aid}/thumbnail", headers=AUTH)
        for r in (boxed, thumb):
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content != raw
        assert (await http.get("/api/v1/events/nope/thumbnail", headers=AUTH)).status_code == 404

        # /docs renders the API document with the vendored renderer, from this server only
        docs = await http.get("/docs")
        assert docs.status_code == 200 and 'spec-url="/openapi.json"' in docs.text and "http" not in docs.text
        bundle = await http.get("/static/vendor/redoc.standalone.js")
        assert bundle.status_code == 200 and len(bundle.content) > 500_000
        doc = (await http.get("/openapi.json")).json()
        schemas = doc["components"]["schemas"]
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                ok = op["responses"]["200"]["content"]
                if "application/json" in ok:
                    ref = ok["application/json"]["schema"]["$ref"]
                    assert ref.split("/")[-1] in schemas, (path, method)
        assert doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] \
            == {"$ref": "#/components/schemas/EventPage"}
        assert "$defs" not in str(doc) and "reviewed" in str(doc["paths"]["/api/v1/events"])
        narrative = schemas["Description"]["properties"]["narrative"]
        assert narrative["maxLength"] == 240 and "sentences" in narrative["description"]
        assert "narrative" not in schemas["Description"].get("required", [])   # stored before it: still valid

    asyncio.run(_with_service(check))
