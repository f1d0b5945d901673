"""The browser tests' support: Debian's headless Chromium driven by Playwright, a person's browser
context that fails on outside requests and CSP refusals, and the served database written to
through the app's own services. The fixtures that use these live in ``tests/e2e/conftest.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ledger import create_app
from ledger.extensions import db
from ledger.models import Case, Client
from ledger.money import Money
from ledger.services import bundles, clients, invoicing, ratecards, support
from ledger.services.users import create_user
from tests.helpers import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
PASSWORD = "browser tests only"
#: how long a page may take to answer an action, in milliseconds
TIMEOUT_MS = 15_000

#: every input, select and textarea a person can see that has neither a <label> nor an aria-label
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0)
    .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map(el => `${el.tagName.toLowerCase()} name=${el.name} id=${el.id} in form ${el.form && el.form.getAttribute('action')}`)"""
#: the first element of the page that Tab can reach
FIRST_FOCUSABLE = """() => {
    const all = document.querySelectorAll(
        'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])');
    const first = [...all].find(el => !el.disabled);
    return first ? first.outerHTML : null;
}"""


def today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Seeded:
    """One client of a test: its code, an open case, and the email of its client user."""

    code: str
    name: str
    case: str
    client_user: str


class Ledger:
    """The served database, written to in-process through the app's own services."""

    def __init__(self, database_url: str):
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "browser-set-up",
                               "TESTING": True})
        with self.app.app_context():
            ratecards.create_rate_card(db.session, "USD", date(2020, 1, 1))
            for role in ("account_manager", "finance", "admin"):
                create_user(db.session, f"{role}@example.com", role, password=PASSWORD)
            db.session.commit()

    def client_with_case(self, code: str, name: str) -> Seeded:
        """A USD client with 10 incidents at $150 bought today, a case opened at midnight, a client user."""
        with self.app.app_context():
            client = clients.create_client(
                db.session, code=code, name=name, currency="USD", locale="en_US", tax_rate=Decimal(10),
                term_start=date(today().year, 1, 1))
            bundles.buy_bundle(db.session, client, 10, today(), Money(Decimal(150), "USD"))
            case = support.open_case(db.session, client, f"{name}'s mail server is down", "critical",
                                     datetime.combine(today(), time(0), UTC))
            email = f"{code.lower()}@example.com"
            create_user(db.session, email, "client", client=client, password=PASSWORD)
            db.session.commit()
            return Seeded(code, name, case.number, email)

    def appointment(self, case_number: str) -> int:
        """A 100-minute appointment today on the case; returns its activity id."""
        with self.app.app_context():
            case = db.session.scalar(sa.select(Case).where(Case.number == case_number))
            activity = support.log_appointment(db.session, case, datetime.combine(today(), time(14), UTC),
                                               datetime.combine(today(), time(15, 40), UTC), "Tess Tech")
            db.session.commit()
            return activity.id

    def invoice(self, code: str) -> str:
        """Issue the client's invoice for this month now; returns its number."""
        with self.app.app_context():
            client = db.session.scalar(sa.select(Client).where(Client.code == code))
            issued = invoicing.issue_invoice(db.session, client, today().strftime("%Y-%m"), today())
            db.session.commit()
            return issued.number

    def user_id(self, email: str) -> int:
        with self.app.app_context():
            return db.session.scalar(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email})

    def close(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


class Session:
    """A browser context of one person: pages, and what went wrong that they would not see."""

    def __init__(self, chromium: Browser, server: LiveServer):
        self.context: BrowserContext = chromium.new_context(
            base_url=server.base_url, locale="en-US", timezone_id="UTC", accept_downloads=True)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.local = server.base_url
        self.elsewhere: list[str] = []  # requests to anything but the served app
        self.refused: list[str] = []  # Content-Security-Policy violations and script errors
        self.context.route(re.compile(r"^(?!" + re.escape(server.base_url) + r"/)"), self._block)

    def _block(self, route) -> None:
        self.elsewhere.append(route.request.url)
        route.abort()

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("console", lambda message: self.refused.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text else None)
        page.on("pageerror", lambda error: self.refused.append(str(error)))
        return page

    def sign_in(self, email: str) -> Page:
        page = self.page()
        page.goto("/sign-in")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        expect(page).not_to_have_url(re.compile(r"/sign-in"))
        return page

    def close(self) -> None:
        self.context.close()
        assert self.elsewhere == [], "pages asked for something other than the served app"
        assert self.refused == [], "the content security policy refused something, or a script failed"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def incidents_left(page: Page) -> int:
    return int(page.locator("#incidents-left").inner_text().strip())
