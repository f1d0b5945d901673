"""Every table on a page scrolls in its own box at phone width: the pages wrap each ``<table>`` in
the ``table_box`` macro (templates/macros.html). The browser walk (tests/e2e/test_browser_a11y.py)
measures the widths; this finds a bare table in a template before any browser starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: printed documents (PDF layouts) have a page, not a viewport
PAGES = sorted(p for p in TEMPLATES.rglob("*.html") if "documents" not in p.relative_to(TEMPLATES).parts)


def bare_tables(source: str) -> int:
    """How many ``<table>`` elements are not inside a ``{% call table_box(...) %}`` block."""
    outside = re.sub(r"\{%-?\s*call table_box\(.*?\{%-?\s*endcall\s*-?%\}", "", source, flags=re.S)
    return len(re.findall(r"<table\b", outside))


@pytest.mark.parametrize("template", PAGES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_table_on_a_page_is_in_its_own_scroll_box(template):
    assert bare_tables(template.read_text()) == 0


def test_the_check_finds_a_bare_table():
    assert bare_tables("<h1>x</h1><table><tr><td>1</td></tr></table>") == 1
    assert bare_tables('{% call table_box(_("x")) %}<table></table>{% endcall %}') == 0
