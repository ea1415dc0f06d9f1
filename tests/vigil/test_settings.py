import pytest
from pydantic import BaseModel, ConfigDict

from vigil.settings import ConfigError, env_overrides, load_config


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int = 1


class Root(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: Inner = Inner()
    name: str = "x"


def test_yaml_then_env_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  port: 5\nname: from-yaml\n")
    cfg = load_config(Root, f, env_prefix="T", environ={"T__SERVER__PORT": "7"}, overrides={"name": "cli"})
    assert cfg.server.port == 7 and cfg.name == "cli"


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  prot: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(Root, f, env_prefix="T", environ={})
    assert "server.prot" in str(err.value) and "unknown key" in str(err.value)


def test_bad_value_is_named():
    with pytest.raises(ConfigError) as err:
        load_config(Root, None, env_prefix="T", environ={"T__SERVER__PORT": "many"})
    assert "server.port" in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Root, tmp_path / "nope.yaml", env_prefix="T", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Root, bad, env_prefix="T", environ={})


def test_env_values_are_typed():
    assert env_overrides("P", {"P__A__B": "true", "P__C": "[1, 2]", "OTHER": "1"}) == {"a": {"b": True}, "c": [1, 2]}
