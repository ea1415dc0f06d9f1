"""README's promises: the two commands, compose, and a configuration reference in sync with the code."""
from pathlib import Path

from vigil_tools.config_docs import BEGIN, END, render

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text()


def test_config_table_matches_code():
    block = CONFIG_DOC[CONFIG_DOC.index(BEGIN):CONFIG_DOC.index(END) + len(END)]
    assert block == render(), "the configuration reference is stale: python -m vigil_tools.config_docs --write docs/configuration.md"


def test_readme_has_the_two_commands_and_compose():
    assert "make demo" in README and "make test" in README and "docker compose up" in README


def test_ci_runs_make_test():
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci


def test_every_local_link_in_readme_and_docs_exists():
    import re
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, "broken links: " + ", ".join(missing)
