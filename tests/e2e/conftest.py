"""Fixtures of the served app: the real ``ledger serve`` (gunicorn, four worker processes) on a
fresh database, started and stopped by ``running_server`` (tests/helpers.py).

``live_server`` serves the test's own ``database_url`` (so ``both_engines`` applies);
``shared_live_server`` serves one database per engine for the whole session, for tests
that keep to clients of their own (each server start costs seconds: four workers each
import the whole app). Every server has an account manager whose bearer token
``server.api`` sends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger import create_app
from ledger.extensions import db
from ledger.services.users import create_token, create_user
from tests.helpers import LiveServer, books_findings, fresh_postgres_database, running_server


@pytest.fixture
def live_server(request, database_url, tmp_path) -> Iterator[LiveServer]:
    """The app served on this test's fresh database (``both_engines`` picks the engines); once the
    server has stopped, ``ledger verify`` must find its books sound (unless ``unsound_books``)."""
    with running_server(database_url, tmp_path / "served") as server:
        yield server
    if (os.environ.get("LEDGER_TEST_VERIFY", "1") != "0"
            and request.node.get_closest_marker("unsound_books") is None):
        served = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "verify", "TESTING": True,
                             "INVOICE_DIR": str(tmp_path / "served" / "invoices")})
        try:
            findings = books_findings(served)
        finally:
            with served.app_context():
                db.engine.dispose()
        assert findings == [], "ledger verify after the served test:\n" + "\n".join(map(str, findings))


@contextmanager
def shared_database(request, engine: str, folder: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh migrated database that lives as long as the requesting fixture."""
    if engine == "sqlite":
        path = folder / "ledger.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url, drop = fresh_postgres_database(request.getfixturevalue("postgres_template"))
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_live_server(request, tmp_path_factory, sqlite_template) -> Iterator[LiveServer]:
    """One served app per engine for the session; each test must use client codes of its own."""
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    with shared_database(request, request.param, folder, sqlite_template) as url:
        with running_server(url, folder) as server:
            yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed served test shows the end of the server's output (tracebacks of any 500)."""
    report = yield
    if report.when == "call" and report.failed:
        for name in ("live_server", "shared_live_server"):
            server = item.funcargs.get(name)
            if isinstance(server, LiveServer):
                report.sections.append((f"{name} output (last 60 lines)", server.output(60)))
    return report


@pytest.fixture
def demo_live_server(tmp_path, sqlite_template) -> Iterator[tuple[LiveServer, str]]:
    """The app served on a fresh copy of the demo data, with an admin's API token."""
    from ledger.demo import load_demo

    path = tmp_path / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "e2e-set-up", "TESTING": True})
    with app.app_context():
        load_demo(db.session, datetime.now(UTC).date())
        token = create_token(db.session, create_user(db.session, "admin-e2e@example.com", "admin"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    with running_server(url, tmp_path / "served") as server:
        yield server, token
