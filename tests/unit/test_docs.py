"""A newcomer's clone carries its own docs: every link in the README and docs/ resolves inside it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_local_link_resolves_inside_the_project(page):
    for target in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the project: {target}"
        assert resolved.exists(), f"{page.name} links to a missing {target}"


def test_the_readme_links_the_rules_the_api_and_operations():
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/rules.md", "docs/api.md", "docs/operations.md"):
        assert f"]({doc})" in readme


def test_the_rules_carry_the_worked_examples():
    rules = (ROOT / "docs" / "rules.md").read_text()
    for example in ("| incidents | 2 | 2 | 2 | 3 | 3 | 4 | 5 |", "15 roll over, 3 expire", "overage",
                    "discount", "Credit notes", "FIFO"):
        assert example in rules
