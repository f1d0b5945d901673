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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from ledger import create_app
from ledger.extensions import db
from ledger.services.users import create_token, create_user
from tests.browser import CHROMIUM, CHROMIUM_ARGS, Ledger, Session
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


# --- the browser tests: one served app (SQLite) and one Chromium per test module -----------


@pytest.fixture(scope="module")
def browser_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def browser_database(browser_folder, sqlite_template) -> str:
    """The URL of a migrated SQLite database of this module's own."""
    path = browser_folder / "ledger.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def server(browser_database, browser_folder) -> Iterator[LiveServer]:
    """``ledger serve`` on the module's database."""
    with running_server(browser_database, browser_folder / "served") as served:
        yield served


@pytest.fixture(scope="module")
def ledger(browser_database, server) -> Iterator[Ledger]:
    seeded = Ledger(browser_database)
    yield seeded
    seeded.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; skipped only where it is not installed and CI is not set."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); browsers cannot be downloaded here")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def person(chromium, server) -> Iterator[Callable[[], Session]]:
    """Open a browser context per person; each is checked for CSP refusals and outside requests."""
    opened: list[Session] = []

    def open_session() -> Session:
        opened.append(Session(chromium, server))
        return opened[-1]

    yield open_session
    for session in opened:
        session.close()
