import json

import pytest

from cloud.models.registry import detect_family


@pytest.mark.parametrize("model_type,name", [("llava_onevision", "LLaVA-OneVision"), ("llava_next", "LLaVA-NeXT")])
def test_unsupported_family_is_named_clearly(tmp_path, model_type, name):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    with pytest.raises(ValueError, match=name):
        detect_family(str(tmp_path))


def test_llava_checkpoint_is_detected(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    assert detect_family(str(tmp_path)) == "llava"
