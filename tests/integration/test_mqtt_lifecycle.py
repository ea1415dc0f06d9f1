"""Real clip -> edge lifecycle -> gRPC -> cloud -> real Mosquitto: Frigate's topics as an automation sees them."""
import asyncio
import json
import shutil
import socket
import subprocess
import time

import pytest

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config

paho = pytest.importorskip("paho.mqtt.client")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed")]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker():
    port = _free_port()
    proc = subprocess.Popen(["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 10
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.kill()
    proc.wait()


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
    got, ready = [], []
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2)
    sub.on_connect = lambda c, u, f, rc, p: (c.subscribe("vigil/#", qos=1), ready.append(1))
    sub.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload) if m.payload[:1] == b"{" else m.payload))
    sub.connect("127.0.0.1", broker)
    sub.loop_start()
    try:
        end = time.time() + 5
        while not ready and time.time() < end:
            time.sleep(0.05)
        summary = asyncio.run(_run(broker))
        end = time.time() + 5
        while not any(t == "vigil/tracked_object_update" for t, _ in got) and time.time() < end:
            time.sleep(0.05)
    finally:
        sub.loop_stop()
        sub.disconnect()
    # A man talks in a car for 4 s: one object, one event (the edge counted one), one Frigate "new".
    assert summary.events == 1
    events = [p for t, p in got if t == "vigil/events"]
    assert [e["type"] for e in events][:1] == ["new"] and sum(e["type"] == "new" for e in events) == 1
    ids = {e["after"]["id"] for e in events}
    assert len(ids) == 1 and events[0]["after"]["camera"] == "car" and events[0]["after"]["label"] == "person"
    (desc,) = [p for t, p in got if t == "vigil/tracked_object_update"]
    assert desc["type"] == "description" and desc["id"] in ids and desc["description_status"] in ("ok", "timeout", "error")
    # the description is not the object's end: the event that carried it is an "update" of the same object
    described = [e for e in events if e["after"].get("stage") == "described"]
    assert described and described[0]["type"] in ("update", "end") and described[0]["before"]["id"] in ids
