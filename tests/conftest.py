"""Fixtures: a fresh, migrated database per test on SQLite, and on PostgreSQL where asked.

SQLite tests copy a database migrated once per session; PostgreSQL tests create a
database from a migrated template. ``LEDGER_TEST_POSTGRES_URL`` names the server
(``make test`` starts one); without it PostgreSQL tests skip, or fail when CI is set.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import create_app
from ledger.extensions import db
from ledger.migrate import upgrade
from ledger.money import Money

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL")
_counter = itertools.count()


def migrate(url: str, instance: Path) -> None:
    """Run the real migrations (``ledger init``) against ``url``."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "TESTING": True})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite3"
    migrate(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory):
    """A migrated template database on the test server, dropped at the end of the session."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI is set but LEDGER_TEST_POSTGRES_URL is not: PostgreSQL tests cannot run")
        pytest.skip("LEDGER_TEST_POSTGRES_URL is not set (make test starts a server)")
    name = f"ledger_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    migrate(_database_url(name), tmp_path_factory.mktemp("pg-template"))
    yield name
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _database_url(name: str) -> str:
    return sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def fresh_postgres_database(template: str):
    """Create a database from the template; returns (url, drop)."""
    name = f"ledger_t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop():
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return _database_url(name), drop


@pytest.fixture(params=["sqlite"])
def engine_name(request) -> str:
    """Which database engine the test runs on; tests opt into both with ``both_engines``."""
    return request.param


both_engines = pytest.mark.parametrize(
    "engine_name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def database_url(request, engine_name, tmp_path, sqlite_template):
    """A fresh, migrated, empty database for this test."""
    if engine_name == "sqlite":
        path = tmp_path / "ledger.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    url, drop = fresh_postgres_database(template)
    yield url
    drop()


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret",
        "TESTING": True,
        "INVOICE_DIR": str(tmp_path / "invoices"),
    })
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def session(app):
    """The app's session inside an app context, for service-level tests."""
    with app.app_context():
        yield db.session
        db.session.rollback()


@pytest.fixture
def make_client(app):
    """Create a client (committed) and return it; keyword arguments override the defaults."""
    from ledger.services.clients import create_client
    from ledger.services.ratecards import seed_card

    def make(code: str | None = None, **overrides):
        fields = dict(
            code=code or f"C{next(_counter)}",
            name="Test Client",
            currency="USD",
            locale="en_US",
            tax_rate=Decimal("10"),
            term_start=date(2026, 1, 1),
            overage_policy="bill",
        )
        fields.update(overrides)
        if isinstance(fields.get("maintenance_fee"), str):
            fields["maintenance_fee"] = Money(Decimal(fields["maintenance_fee"]), fields["currency"])
        with app.app_context():
            seed_card(db.session, fields["currency"])  # a client needs a rate card in its currency
            client = create_client(db.session, **fields)
            db.session.commit()
            db.session.refresh(client)
            db.session.expunge(client)
            return client

    return make


@pytest.fixture
def make_token(app):
    """Create a user with ``role`` (a client user of ``client`` code) and return a bearer token."""
    from ledger.models import Client
    from ledger.services.users import create_token, create_user

    def make(role: str, client: str | None = None) -> str:
        with app.app_context():
            owner = db.session.scalar(sa.select(Client).where(Client.code == client)) if client else None
            # token-only users: no password, so no scrypt hash to compute in every test
            user = create_user(db.session, f"{role}-{next(_counter)}@example.com", role, client=owner)
            token = create_token(db.session, user)
            db.session.commit()
            return token

    return make


class Api:
    """The JSON API through Flask's test client, with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def headers(self, extra=None, token=None):
        headers = {}
        token = token if token is not None else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(extra or {})
        return headers

    def get(self, path, token=None, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self.headers(token=token), **kwargs)

    def post(self, path, json=None, token=None, headers=None, data=None):
        if data is not None:
            return self.client.post(f"/api/v1{path}", data=data, headers=self.headers(headers, token),
                                    content_type="application/json")
        return self.client.post(f"/api/v1{path}", json=json if json is not None else {},
                                headers=self.headers(headers, token))

    def as_(self, token: str) -> "Api":
        return Api(self.client, token)


@pytest.fixture
def api(app, make_token):
    """The API as an account manager; ``api.as_(token)`` for someone else."""
    return Api(app.test_client(), make_token("account_manager"))


@pytest.fixture
def rate_card(app):
    """The seed USD and EUR rate cards, in force since 2020."""
    from ledger.services.ratecards import create_rate_card

    with app.app_context():
        for currency in ("USD", "EUR", "CAD"):
            create_rate_card(db.session, currency, date(2020, 1, 1))
        db.session.commit()
