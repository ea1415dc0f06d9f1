"""README's promises: the two commands, compose, and a configuration table in sync with the code."""
from pathlib import Path

from vigil_tools.config_docs import BEGIN, END, render

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_config_table_matches_code():
    block = README[README.index(BEGIN):README.index(END) + len(END)]
    assert block == render(), "README configuration table is stale: python -m vigil_tools.config_docs --write README.md"


def test_readme_has_the_two_commands_and_compose():
    assert "make demo" in README and "make test" in README and "docker compose up" in README


def test_ci_runs_make_test():
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci
