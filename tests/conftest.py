"""Fixtures: a fresh, migrated database per test on SQLite, and on PostgreSQL where asked.

SQLite tests copy a database migrated once per session; PostgreSQL tests create a
database from a migrated template. ``LEDGER_TEST_POSTGRES_URL`` names the server
(``make test`` starts one); without it PostgreSQL tests skip, or fail when CI is set.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ledger import batch, create_app
from ledger.extensions import db
from ledger.migrate import upgrade
from ledger.money import Money

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL")
_counter = itertools.count()
#: markers of tests that take seconds each; `make test-fast` (-m "not slow") leaves them out
SLOW_MARKERS = ("served", "browser", "postgres")
E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items) -> None:
    """Mark as ``slow`` every served, browser or PostgreSQL test and everything under tests/e2e/."""
    for item in items:
        if (any(item.get_closest_marker(name) for name in SLOW_MARKERS)
                or Path(str(item.path)).is_relative_to(E2E)):
            item.add_marker(pytest.mark.slow)


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
def app_role(database_url):
    """A login role on the test server, dropped afterwards; (name, URL of the test database as it)."""
    name = f"ledger_app_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD 'app-secret'")
    url = sa.engine.make_url(database_url).set(username=name, password="app-secret")
    yield name, url.render_as_string(hide_password=False)
    owner = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with owner.connect() as connection:
        connection.exec_driver_sql(f"DROP OWNED BY {name}")
    owner.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP ROLE {name}")
    admin.dispose()


#: a complete vendor profile: every app of a test has it, unless marked ``incomplete_vendor``
VENDOR = dict(legal_name="Support Ledger GmbH", address="Friedrichstraße 123\n10117 Berlin", country="DE",
              vat_id="DE136695976", registration="HRB 12345 B", iban="DE89370400440532013000",
              bic="COBADEFFXXX", email="billing@vendor.example", phone="+49 30 1234567")


def seed_vendor(app, **overrides) -> None:
    """Save a complete vendor profile (``overrides`` changed) in ``app``'s database."""
    from ledger.services.vendor import update_vendor

    with app.app_context():
        update_vendor(db.session, app.config, **{**VENDOR, **overrides})
        db.session.commit()
        db.session.remove()


@pytest.fixture(autouse=True)
def _complete_vendor(request):
    """Issuing needs a complete vendor profile: tests that build an app get one, so they can issue."""
    if "app" in request.fixturenames and request.node.get_closest_marker("incomplete_vendor") is None:
        seed_vendor(request.getfixturevalue("app"))


@pytest.fixture(scope="session")
def schematron():
    """Run a Schematron XSLT (tests/helpers.py) on XML; returns its failed asserts. Compiled once per session."""
    from tests.helpers import schematron_checker

    yield from schematron_checker()


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


def make_api_token(app, role: str, client: str | None = None) -> str:
    """Create a user with ``role`` (a client user of ``client`` code) on ``app``; a bearer token for it."""
    from ledger.models import Client
    from ledger.services.users import create_token, create_user

    with app.app_context():
        owner = db.session.scalar(sa.select(Client).where(Client.code == client)) if client else None
        # token-only users: no password, so no scrypt hash to compute in every test
        user = create_user(db.session, f"{role}-{next(_counter)}@example.com", role, client=owner)
        token = create_token(db.session, user)
        db.session.commit()
        return token


@pytest.fixture
def make_token(app):
    """Create a user with ``role`` (a client user of ``client`` code) and return a bearer token."""

    def make(role: str, client: str | None = None) -> str:
        return make_api_token(app, role, client)

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

    def send(self, method: str, path, json=None, token=None):
        """A PUT or PATCH with a JSON body."""
        return self.client.open(f"/api/v1{path}", method=method, json=json if json is not None else {},
                                headers=self.headers(token=token))

    def as_(self, token: str) -> Api:
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


# --- shared helpers -------------------------------------------------------------------------------

BILLED_PERIOD = "2026-02"
BILLED_ON = date(2026, 3, 1)
TECHNICIAN = "Tess Tech"


def post_created(api, path: str, body: dict) -> dict:
    """POST through the API and expect 201; the created resource."""
    response = api.post(path, body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def bill_a_month(app, api, make_client) -> None:
    """Two clients with bundles, appointments, a response and overage; February invoiced and rendered."""
    make_client("ACME")
    make_client("BETA", currency="EUR", locale="de_DE", tax_rate=Decimal(19))
    post_created(api, "/clients/ACME/bundles", {"quantity": 10, "purchased_on": "2026-02-02"})
    post_created(api, "/clients/BETA/bundles", {"quantity": 5, "purchased_on": "2026-02-02"})
    for code, minutes in (("ACME", 91), ("BETA", 150)):
        case = post_created(api, f"/clients/{code}/cases", {
            "subject": "VPN down", "severity": "major", "opened_at": "2026-02-03T08:00:00+00:00"})["number"]
        post_created(api, f"/cases/{case}/appointments", {
            "started_at": "2026-02-03T09:00:00+00:00", "technician": TECHNICIAN,
            "ended_at": f"2026-02-03T{9 + minutes // 60:02d}:{minutes % 60:02d}:00+00:00"})
        post_created(api, f"/cases/{case}/responses", {
            "responded_at": "2026-02-04T09:00:00+00:00", "technician": TECHNICIAN})
    result = batch.run(app, BILLED_PERIOD, BILLED_ON, workers=1)
    assert len(result.issued) == 2 and result.rendered == 2


# --- the books stay sound -------------------------------------------------------------------------

def books_findings(app) -> list:
    """What ``ledger verify`` finds in ``app``'s database and archive (an empty list when sound)."""
    from ledger.services.verify import verify

    with app.app_context():
        try:
            return verify(db.session, Path(app.config["INVOICE_DIR"]))
        finally:
            db.session.remove()


@pytest.fixture
def verified_books(app):
    """After the test, ``ledger verify`` must find nothing wrong in its database and archive."""
    yield
    findings = books_findings(app)
    assert findings == [], "ledger verify after the test:\n" + "\n".join(map(str, findings))


@pytest.fixture(autouse=True)
def _verify_books_after_each_test(request):
    """Every test that builds an app is followed by ``ledger verify`` on its own database and archive,
    so the suite's own activity proves the books stay sound. Tests that damage the books on purpose
    carry the ``unsound_books`` marker; ``LEDGER_TEST_VERIFY=0`` turns the check off (to time it)."""
    if (os.environ.get("LEDGER_TEST_VERIFY", "1") != "0" and "app" in request.fixturenames
            and request.node.get_closest_marker("unsound_books") is None):
        request.getfixturevalue("verified_books")
