"""Every page that posts goes through the one transaction boundary, and nothing else in the pages commits."""

from __future__ import annotations

import re
from pathlib import Path

import ledger.web

PAGE_AREAS = ("auth.", "manager.", "portal.", "finance.", "admin.")


def test_every_page_that_posts_runs_in_the_one_transaction_boundary(app):
    posting = {rule.endpoint for rule in app.url_map.iter_rules()
               if "POST" in rule.methods and rule.endpoint.startswith(PAGE_AREAS)}

    unwrapped = {endpoint for endpoint in posting
                 if not _wrapped(app.view_functions[endpoint])}

    assert len(posting) > 15 and unwrapped == set()


def _wrapped(view) -> bool:
    """Whether ``transaction`` is somewhere in the view's decorator chain."""
    while view is not None:
        if getattr(view, "transaction", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def test_only_the_boundary_commits_or_rolls_back_in_the_pages():
    folder = Path(ledger.web.__file__).parent
    found = {path.name for path in folder.glob("*.py")
             if re.search(r"\.(commit|rollback)\(\)", path.read_text())}

    assert found == {"boundary.py"}
