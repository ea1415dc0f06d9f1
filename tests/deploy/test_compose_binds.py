"""Compose asks for the wider binding where a port is published, and publishes on the host's loopback only.

Every Vigil port binds 127.0.0.1 by default (tests/test_bind_defaults.py); inside a container that
would leave a published port with nothing behind it, so compose must ask for 0.0.0.0 explicitly.
"""
import pytest

from tests.deploy.conftest import COMPOSE, service_env

API_PORT = "8000"


def _published(name: str) -> list[str]:
    return [str(p) for p in COMPOSE["services"][name].get("ports") or []]


@pytest.mark.parametrize("name", [n for n in COMPOSE["services"] if any(p.endswith(":" + API_PORT)
                                                                        for p in _published(n))])
def test_services_publishing_the_api_bind_it_inside_the_container(name):
    assert service_env(name).get("VIGIL_CLOUD__API__HOST") == "0.0.0.0"


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_published_ports_are_on_the_hosts_loopback(name):
    for p in _published(name):
        assert p.startswith("127.0.0.1:"), f"{name} publishes {p} on every interface of the host"
