import pytest
from pydantic import ValidationError

from cloud.prune.config import PrunerConfig, resolve_budget


def test_budget_count_and_ratio_resolve_against_token_count():
    assert resolve_budget(16, 576) == 16
    assert resolve_budget(1000, 576) == 576
    assert resolve_budget(0.25, 576) == 144
    assert resolve_budget(1.0, 576) == 576
    assert resolve_budget(None, 576) == 576
    assert resolve_budget(0.001, 576) == 1  # never prune to nothing


@pytest.mark.parametrize("bad", [0, -3, 0.0, 1.5, True])
def test_bad_budgets_are_rejected(bad):
    with pytest.raises(ValidationError):
        PrunerConfig(method="id_selection", budget=bad)


def test_typo_in_config_is_an_error_naming_the_key():
    with pytest.raises(ValidationError, match="gama"):
        PrunerConfig(method="id_selection", gama=20)


def test_defaults_follow_the_paper_except_gamma_chosen_on_val_scenes():
    cfg = PrunerConfig(method="id_selection")
    assert cfg.importance_layer == 2 and cfg.gamma == 0.0  # benchmarks/results/prune_gamma_val.json
