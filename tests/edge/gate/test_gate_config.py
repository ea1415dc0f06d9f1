"""Gate and camera settings inside the agent's config tree: mistakes are errors that name the key."""
import pytest

from edge.config import load_edge_config
from vigil.settings import ConfigError


def test_unknown_detector_names_the_key():
    with pytest.raises(ConfigError, match=r"gate.detector"):
        load_edge_config(environ={}, overrides={"gate": {"detector": "yolov99"}})


def test_unknown_class_in_a_camera_names_the_camera_key():
    cams = [{"id": "a", "url": "x.mp4", "objects": ["person", "unicorn"]}]
    with pytest.raises(ConfigError) as err:
        load_edge_config(environ={}, overrides={"cameras": cams})
    assert "cameras.0.objects" in str(err.value) and "unicorn" in str(err.value)


def test_two_point_zone_names_the_key():
    cams = [{"id": "a", "url": "x.mp4", "zones": [{"name": "door", "polygon": [[0, 0], [1, 1]]}]}]
    with pytest.raises(ConfigError, match=r"cameras.0.zones.0.polygon"):
        load_edge_config(environ={}, overrides={"cameras": cams})


def test_misspelt_gate_option_names_the_key():
    with pytest.raises(ConfigError, match=r"gate.motion.treshold"):
        load_edge_config(environ={}, overrides={"gate": {"motion": {"treshold": 30}}})


def test_environment_override_reaches_the_gate():
    cfg = load_edge_config(environ={"VIGIL_EDGE__GATE__DETECTOR": "hog", "VIGIL_EDGE__GATE__HOLD_S": "2.5"})
    assert cfg.gate.detector == "hog" and cfg.gate.hold_s == 2.5
