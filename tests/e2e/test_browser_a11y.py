"""Every page, as every role, checked by a tool no one here wrote: axe-core (from the npm registry,
``npm ci`` puts it in ``node_modules/``) finds no serious or critical accessibility violation at
desktop (1280 px) and phone (390 px) width, and at phone width no page scrolls sideways.

The pages are found, not listed: every GET route of the app without arguments, then one page of each
kind the visited pages link to (a client, a case, an invoice, a user ...), until no new kind turns up;
a new page is checked as soon as a route or a link leads to it. Left out on purpose:
downloads (PDF, CSV, XML, logos: not HTML), the API and the health checks (no pages), sign-out
(a POST), and what only a POST shows: the "are you sure" pages (``confirm.html``) and forms
returned with their errors.

axe is put into each page with ``page.evaluate`` (the DevTools protocol): the app's policy
``script-src 'self'`` refuses a ``<script>`` tag, and the policy must stay as it is for the test too.
Screenshots go to ``test-artifacts/screenshots/a11y/`` (the first screenful, one per width).
One served demo app (SQLite) for the module; one browser; one signed-in context per role.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from ledger import create_app
from ledger.demo import DEMO_PASSWORD
from ledger.extensions import db
from ledger.models import Client, Invoice
from ledger.money import Money
from ledger.services import invoicing, payments
from tests.helpers import LiveServer, running_server

pytestmark = [pytest.mark.browser, pytest.mark.served, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / "a11y"
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
TIMEOUT_MS = 15_000
#: the impacts that fail the test; axe's "minor" and "moderate" are reported by axe, not here
FAILING = ("serious", "critical")
ROLES = {
    "admin": "admin@example.com",
    "account_manager": "manager@example.com",
    "finance": "finance@example.com",
    # the three demo clients' users: English, German and French pages (the longer words wrap differently)
    "client_acme": "it@acme.example.com",
    "client_brau": "it@brau.example.com",
    "client_nord": "ti@nord.example.com",
}
#: endpoints that are not pages: the API, health, static files and downloads (found by their type too)
NOT_PAGES = re.compile(r"^(api\.|static$|health\.|.*(pdf|csv|export|logo|download|xml|ubl))")
#: a link to a file (invoice.pdf, ubl.xml, export.csv) is a download, whatever its endpoint is called
FILE = re.compile(r"\.[a-z]{2,4}$")
#: a page no route answers: the 404 page is a page people see too
MISSING = "/no-such-page"

RUN_AXE = """async () => {
    const result = await axe.run(document, {resultTypes: ['violations']});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => n.target.join(' '))}));
}"""
WIDTH = "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
#: the elements that stick out past the right edge, to say why a page is too wide
WIDEST = """() => [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(el => !el.closest('.table-scroll') || el.matches('.table-scroll'))
    .slice(0, 5).map(el => `${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''} `
                          + `right=${Math.round(el.getBoundingClientRect().right)}`)"""


@dataclass
class Findings:
    """What the walk of one role found."""

    visited: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    too_wide: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, sqlite_template) -> Iterator[tuple[LiveServer, MapAdapter]]:
    """``ledger serve`` on a fresh copy of the demo data, and the app's routes to match links with."""
    from ledger.demo import load_demo

    today = datetime.now(UTC).date()
    folder = tmp_path_factory.mktemp("a11y")
    path = folder / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "a11y-set-up", "TESTING": True})
    with app.app_context():
        load_demo(db.session, today)
        issue_last_month(today)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    with running_server(url, folder / "served") as server:
        yield server, app.url_map.bind("127.0.0.1")


def issue_last_month(today: date) -> None:
    """Last month's invoices, one of them part paid, unless the demo has issued some already: the
    invoice, payment, statement and receivables pages show nothing without them."""
    if db.session.scalar(sa.select(sa.func.count(Invoice.id))):
        return
    period = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    issued = [invoicing.issue_invoice(db.session, client, period, today)
              for client in db.session.scalars(sa.select(Client).order_by(Client.code))]
    first = next(invoice for invoice in issued if invoice is not None)
    payments.record_payment(db.session, first, Money.from_minor(first.total_minor // 2, first.currency), today,
                            "bank transfer", "half", None, today=today)


@pytest.fixture(scope="module")
def chromium(chromium) -> Browser:
    """The suite's Chromium (tests/e2e/conftest.py), once axe-core is there to inject into its pages."""
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {AXE} is missing: run npm ci")
        pytest.skip(f"{AXE} is missing: run npm ci (make venv does)")
    return chromium


@functools.cache
def axe_source() -> str:
    return AXE.read_text()


def start_pages(routes: MapAdapter) -> list[str]:
    """Every GET route that needs no argument and is a page, and the 404 page."""
    paths = sorted(rule.rule for rule in routes.map.iter_rules()
                   if "GET" in (rule.methods or ()) and not rule.arguments and not NOT_PAGES.match(rule.endpoint))
    return [*paths, MISSING]


def kind_of(routes: MapAdapter, path: str) -> str | None:
    """The endpoint a link leads to, or None when it is no page of the app."""
    try:
        endpoint, _ = routes.match(path, method="GET")
    except HTTPException:
        return None
    return None if NOT_PAGES.match(endpoint) or FILE.search(path) else endpoint


def sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/sign-in" not in page.url, f"{email} could not sign in"


def shot_name(role: str, path: str, width: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home"
    return f"{role}--{slug}--{width}.png"


def screenshot(page: Page, name: str) -> None:
    """The first screenful: a full-page shot of a long page costs a relayout at its full height."""
    page.screenshot(path=SCREENSHOTS / name, scale="css", type="png")


def check(page: Page, role: str, path: str, findings: Findings) -> None:
    """axe at both widths, the phone-width overflow, and a screenshot of each."""
    page.evaluate(axe_source())
    for width, (x, y) in WIDTHS.items():
        page.set_viewport_size({"width": x, "height": y})
        for violation in page.evaluate(RUN_AXE):
            if violation["impact"] in FAILING:
                findings.violations.append(f"{role} {path} @{x}px: {violation['impact']} {violation['id']} "
                                           f"({violation['help']}) at {violation['targets'][:4]}")
        if width == "phone":
            measured = page.evaluate(WIDTH)
            if measured["scroll"] > measured["inner"]:
                findings.too_wide.append(f"{role} {path}: {measured['scroll']} px wide at {measured['inner']} px "
                                         f"({', '.join(page.evaluate(WIDEST))})")
        screenshot(page, shot_name(role, path, width))


def walk(browser: Browser, server: LiveServer, routes: MapAdapter, role: str) -> Findings:
    """Sign in as ``role`` and check every page the role reaches: the routes, then one page per linked kind."""
    findings = Findings()
    context = browser.new_context(base_url=server.base_url, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.on("console", lambda message: findings.refused.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text else None)
        sign_in(page, ROLES[role])
        queue = start_pages(routes)
        kinds_seen = {kind_of(routes, path) for path in queue}
        arrivals: set[str] = set()
        while queue:
            arrived = visit(page, queue.pop(0), role, findings)
            if arrived is None or arrived in arrivals:
                continue  # no page of this role's, or a redirect to one checked already (/ leads home)
            arrivals.add(arrived)
            findings.visited.append(arrived)
            check(page, role, arrived, findings)
            for path, kind in linked_pages(page, server, routes):
                if kind not in kinds_seen:
                    kinds_seen.add(kind)
                    queue.append(path)
    finally:
        context.close()
    return findings


def visit(page: Page, path: str, role: str, findings: Findings) -> str | None:
    """Open ``path``; the path of the HTML page it shows, or None for a download or another role's page."""
    try:
        response = page.goto(path)
    except PlaywrightError as error:
        if "Download is starting" in str(error):
            return None  # a file, not a page
        raise
    if response.status >= 500 or (path == MISSING and response.status != 404):
        findings.broken.append(f"{role} {path}: {response.status}")
    if (400 <= response.status < 500 and path != MISSING) or "text/html" not in response.headers.get(
            "content-type", ""):
        return None
    return urlsplit(page.url).path


def linked_pages(page: Page, server: LiveServer, routes: MapAdapter) -> Iterator[tuple[str, str]]:
    """The app's pages the current page links to, each with its kind (endpoint)."""
    for link in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
        parts = urlsplit(link)
        if f"{parts.scheme}://{parts.netloc}" != server.base_url:
            continue
        kind = kind_of(routes, parts.path)
        if kind is not None:
            yield parts.path + (f"?{parts.query}" if parts.query else ""), kind


@pytest.mark.parametrize("role", list(ROLES))
def test_axe_finds_no_serious_violation_and_no_page_is_wider_than_a_phone(role, demo_server, chromium):
    server, routes = demo_server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    findings = walk(chromium, server, routes, role)

    print(f"\n{role}: {len(findings.visited)} pages: {' '.join(findings.visited)}")
    assert len(findings.visited) >= 3, "the walk found hardly any page: did signing in work?"
    assert findings.broken == []
    assert findings.refused == [], "the content security policy refused something"
    assert (findings.violations, findings.too_wide) == ([], []), (
        "axe-core's serious or critical violations:\n" + "\n".join(findings.violations)
        + "\npages wider than a 390 px phone:\n" + "\n".join(findings.too_wide))
