"""Settings that cannot apply to the loaded model are adapted (and say so) at start-up, never per request."""
import pytest

from cloud.engine.fit import ModelMismatch, check_device, fit_pruner
from cloud.prune.config import PrunerConfig


def test_importance_layer_beyond_the_model_is_moved_to_its_last_layer():
    cfg = PrunerConfig(method="id_selection", budget=64, importance_layer=2)
    fitted, changes = fit_pruner(cfg, n_layers=2)
    assert fitted.importance_layer == 1 and fitted.budget == 64
    assert [c.key for c in changes] == ["engine.pruner.importance_layer"]
    assert "2 decoder layers" in changes[0].message()


def test_a_layer_the_model_has_is_left_alone():
    cfg = PrunerConfig(method="id_selection", importance_layer=2)
    assert fit_pruner(cfg, n_layers=30) == (cfg, [])


def test_pruners_that_read_no_text_attention_are_left_alone():
    for cfg in (PrunerConfig(method="divprune", importance_layer=9), PrunerConfig(method="none", importance_layer=9),
                PrunerConfig(method="id_selection", importance="cls", importance_layer=9)):
        assert fit_pruner(cfg, n_layers=2) == (cfg, [])


def test_a_cuda_device_that_is_not_there_is_refused_naming_the_key():
    with pytest.raises(ModelMismatch, match="engine.device='cuda'"):
        check_device("cuda", cuda_available=False)
    check_device("cuda:0", cuda_available=True)
    check_device("cpu", cuda_available=False)
