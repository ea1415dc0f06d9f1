"""Every configuration key says what it does, in one line (docs/configuration.md is generated from these)."""
import pytest

from cloud.config import CloudConfig
from edge.config import EdgeConfig
from vigil_tools.config_docs import fields


@pytest.mark.parametrize("model", [EdgeConfig, CloudConfig], ids=["edge", "cloud"])
def test_every_config_key_has_a_one_line_description(model):
    keys = list(fields(model))
    assert len(keys) > 50
    missing = [key for key, field in keys if not (field.description or "").strip()]
    multiline = [key for key, field in keys if "\n" in (field.description or "")]
    assert not missing, f"config keys without a description: {missing}"
    assert not multiline, f"descriptions must be one line: {multiline}"
