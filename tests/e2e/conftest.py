"""The served app: the real ``ledger serve`` (gunicorn, four worker processes) on a fresh database.

``live_server`` serves the test's own ``database_url`` (so ``both_engines`` applies);
``shared_live_server`` serves one database per engine for the whole session, for tests
that keep to clients of their own (each server start costs seconds: four workers each
import the whole app). Every server has an account manager whose bearer token
``server.api`` sends.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from ledger import create_app
from ledger.extensions import db
from ledger.services.seeds import seed_defaults
from ledger.services.users import create_token, create_user
from ledger.services.vendor import update_vendor
from tests.conftest import VENDOR, books_findings, fresh_postgres_database

#: how long the server may take to answer /healthz, and a request to answer, in seconds
START_TIMEOUT, REQUEST_TIMEOUT = 20, 60
#: how long gunicorn gets to stop after SIGTERM before it is killed, in seconds
STOP_TIMEOUT = 15
WORKERS = 4

T = TypeVar("T")


def ledger_executable() -> str:
    """The ``ledger`` console script of the Python running the tests."""
    beside = Path(sys.executable).parent / "ledger"
    return str(beside) if beside.exists() else shutil.which("ledger") or "ledger"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(database_url: str, folder: Path) -> dict[str, str]:
    """What an operator would set: the database, an instance folder and a secret key."""
    env = dict(os.environ)
    env.update({
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_INSTANCE_PATH": str(folder / "instance"),
        "LEDGER_INVOICE_DIR": str(folder / "invoices"),
        "LEDGER_SECRET_KEY": secrets.token_hex(32),
        "PYTHONUNBUFFERED": "1",
        # gunicorn's control socket defaults to ~/.gunicorn/gunicorn.ctl, shared by every server
        # the user runs: keep each test server's in its own folder.
        "XDG_RUNTIME_DIR": str(folder),
    })
    return env


def ready_to_invoice(app) -> None:
    """What ``ledger init`` seeds (the home rate card, the support plans) and a vendor profile
    complete enough to invoice, in ``app``'s database (inside its app context)."""
    seed_defaults(db.session, app.config["HOME_CURRENCY"])
    update_vendor(db.session, app.config, **VENDOR)


def account_manager_token(database_url: str) -> str:
    """Set the database up as ``ledger init`` and a vendor would, create an account manager
    through the app's services and return a new API token for it.

    (In-process rather than ``ledger users create`` / ``ledger tokens create``: each of those
    would start another interpreter that imports the whole app.)
    """
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "e2e-set-up",
                      "TESTING": True})
    with app.app_context():
        ready_to_invoice(app)
        user = create_user(db.session, f"manager-{secrets.token_hex(4)}@example.com",
                           "account_manager")
        token = create_token(db.session, user)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token


class ServedApi:
    """The JSON API of a served app over HTTP, with a bearer token."""

    def __init__(self, base_url: str, token: str | None):
        self.base_url = base_url
        self.token = token

    def request(self, method: str, path: str, *, json=None, headers=None,
                params=None) -> requests.Response:
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        return requests.request(method, f"{self.base_url}/api/v1{path}", json=json, headers=sent,
                                params=params, timeout=REQUEST_TIMEOUT)

    def get(self, path: str, **params) -> requests.Response:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, json=None, headers=None) -> requests.Response:
        return self.request("POST", path, json=json if json is not None else {}, headers=headers)

    def anonymous(self) -> ServedApi:
        return ServedApi(self.base_url, token=None)

    def all_items(self, path: str, **params) -> list[dict]:
        """Every item of a list, following the cursor page by page."""
        items, cursor = [], None
        while True:
            extra = {"cursor": cursor} if cursor else {}
            response = self.get(path, limit=1000, **params, **extra)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            cursor = page["next"]
            if cursor is None:
                return items


class LiveServer:
    """A running ``ledger serve``: its base URL, an account manager's API, and its log."""

    def __init__(self, base_url: str, api: ServedApi, log: Path):
        self.base_url = base_url
        self.api = api
        self.log = log

    def output(self, last_lines: int | None = None) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text if last_lines is None else "\n".join(text.splitlines()[-last_lines:])


@contextmanager
def running_server(database_url: str, folder: Path, *, set_up_as: str | None = None) -> Iterator[LiveServer]:
    """Create an account manager, serve the app, and stop it afterwards.

    ``set_up_as`` is the database's owner when the server runs as another role: the set-up is
    what the operator does with ``ledger init`` and ``ledger users create`` (as the owner).
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = server_environment(database_url, folder)
    token = account_manager_token(set_up_as or database_url)

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [ledger_executable(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(WORKERS)],
            env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the workers can be killed with it
        )
    server = LiveServer(base_url, ServedApi(base_url, token), log)
    try:
        wait_until_healthy(process, server)
        yield server
    finally:
        stop(process)


def wait_until_healthy(process: subprocess.Popen, server: LiveServer) -> None:
    """Return once ``GET /healthz`` answers 200; fail with the server's output otherwise."""
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`ledger serve` exited with {process.returncode}:\n{server.output()}")
        try:
            response = requests.get(f"{server.base_url}/healthz", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except requests.RequestException as error:
            last = repr(error)
        time.sleep(0.1)
    pytest.fail(f"`ledger serve` did not answer /healthz within {START_TIMEOUT} s ({last}):\n"
                f"{server.output()}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's master (a graceful stop); SIGKILL to its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            pass
    # The master is not reaped yet, so the group id is still ours: take the workers down too.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=STOP_TIMEOUT)


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


def in_parallel(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call on its own thread, all released together by a barrier; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=REQUEST_TIMEOUT)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


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
