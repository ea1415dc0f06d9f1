"""Real clip -> edge lifecycle -> gRPC -> cloud -> real Mosquitto: Frigate's topics as an automation sees them."""
import asyncio
import json
import shutil

import pytest

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config

from tests.helpers import wait_for
from tests.helpers.mqtt import broker, subscribed  # noqa: F401 (broker: a fixture)

paho = pytest.importorskip("paho.mqtt.client")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed")]



async def _run(broker_port):
    cloud = load_cloud_config(environ={}, overrides={
        "server": {"host": "127.0.0.1", "port": 0},
        "alerts": {"mqtt": [{"host": "127.0.0.1", "port": broker_port}], "describe_deadline_s": 120.0,
                   "outbox_path": None},
        "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None}})
    service = CloudService(cloud)
    port = await service.start()
    try:
        edge = load_edge_config(environ={}, overrides={
            "cameras": [{"id": "car", "name": "In-car camera", "url": "sample:carphone_pristine.mp4", "fps": 5}],
            "cloud": {"target": f"127.0.0.1:{port}", "token": "vigil-demo-token", "results_grace_s": 120}})
        summary = await EdgeAgent(edge).run()
        assert await service.drain(timeout_s=150)
    finally:
        await service.stop()
    return summary


def test_one_object_is_one_frigate_event_and_its_description_its_own_message(broker):
    with subscribed(broker) as raw:
        summary = asyncio.run(_run(broker))
        wait_for(lambda: any(t == "vigil/tracked_object_update" for t, _, _ in raw), 5)
    got = [(t, json.loads(p) if p[:1] == b"{" else p) for t, p, _ in raw]
    # A man talks in a car for 4 s: one object, one event (the edge counted one), one Frigate "new".
    assert summary.events == 1
    events = [p for t, p in got if t == "vigil/events"]
    assert [e["type"] for e in events][:1] == ["new"] and sum(e["type"] == "new" for e in events) == 1
    ids = {e["after"]["id"] for e in events}
    assert len(ids) == 1 and events[0]["after"]["camera"] == "car" and events[0]["after"]["label"] == "person"
    (desc,) = [p for t, p in got if t == "vigil/tracked_object_update"]
    assert desc["type"] == "description" and desc["id"] in ids and desc["description_status"] in ("ok", "timeout", "error")
    # The object left (the clip ended): one Frigate "end", the last message on vigil/events, from the edge's
    # end packet (stage ended), with the edge's end time and duration.
    types = [e["type"] for e in events]
    assert types.count("end") == 1 and types[-1] == "end", types
    end = events[-1]["after"]
    assert end["stage"] == "ended" and end["end_time"] == end["ended_at"] > end["event_onset"]
    assert end["duration_s"] > 0 and events[-1]["before"]["id"] in ids
    # The description is not the object's end: on vigil/events it is an "update" before the end, if the
    # model answered while the object was in view; else only its own message (as Frigate's GenAI does).
    described = [i for i, e in enumerate(events) if e["after"].get("stage") == "described"]
    assert all(events[i]["type"] == "update" and i < len(events) - 1 for i in described), types
