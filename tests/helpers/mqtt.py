"""A real Mosquitto broker on a free loopback port, as a pytest fixture (import it into a test module), and a
subscriber that records what reaches ``vigil/#``."""
import contextlib
import socket
import subprocess
import time

import pytest

from tests.helpers import free_port, wait_for


@pytest.fixture
def broker():
    port = free_port()
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


@contextlib.contextmanager
def subscribed(port: int, topic: str = "vigil/#"):
    """Yields the list that each message on ``topic`` is appended to, as ``(topic, payload bytes, retain)``,
    once the subscription is in place (QoS 1); unsubscribes on leaving."""
    import paho.mqtt.client as paho
    got, ready = [], []
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2)
    sub.on_connect = lambda c, u, f, rc, p: (c.subscribe(topic, qos=1), ready.append(1))
    sub.on_message = lambda c, u, m: got.append((m.topic, m.payload, m.retain))
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    try:
        wait_for(lambda: ready, 5)
        yield got
    finally:
        sub.loop_stop()
        sub.disconnect()

