"""The pages in a real browser: Debian's headless Chromium driven by Playwright against ``ledger serve``.

Each role's main flow end to end (an account manager logs an appointment, the client sees the
balance drop, finance previews and issues the month, the client downloads the PDF), every form
field labelled, a "Skip to content" link first, and signing in and logging an appointment with
the keyboard alone. Screenshots of the main pages go to ``test-artifacts/screenshots/``.
One served app (SQLite) for the module; each test keeps to client codes of its own.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ledger import create_app
from ledger.extensions import db
from ledger.models import Case, Client
from ledger.money import Money
from ledger.services import bundles, clients, invoicing, ratecards, support
from ledger.services.users import create_user
from tests.helpers import LiveServer, running_server

pytestmark = [pytest.mark.browser, pytest.mark.served]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
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


# --- the served app, its data, and the browser -----------------------------------------------


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


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def incidents_left(page: Page) -> int:
    return int(page.locator("#incidents-left").inner_text().strip())


# --- each role's main flow ------------------------------------------------------------------


def test_each_role_walks_its_main_flow_from_an_appointment_to_the_clients_pdf(person, ledger):
    flow = ledger.client_with_case("FLOW", "Flow Industries")
    period = today().strftime("%Y-%m")
    client_user, manager, finance, admin = person(), person(), person(), person()

    # the client user sees the balance before anything is logged
    sign_in_page = client_user.page()
    sign_in_page.goto("/sign-in")
    screenshot(sign_in_page, "sign-in")
    portal = client_user.sign_in(flow.client_user)
    expect(portal).to_have_url(re.compile(r"/portal/$"))
    before = incidents_left(portal)

    # an account manager opens the client, then the case, and logs a 100-minute appointment
    page = manager.sign_in("account_manager@example.com")
    expect(page).to_have_url(re.compile(r"/clients$"))
    screenshot(page, "client-list")
    page.get_by_role("link", name="FLOW", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Flow Industries")
    screenshot(page, "client-page")
    page.get_by_role("link", name=flow.case).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(flow.case)
    screenshot(page, "case-page")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Log the appointment"))
    form.get_by_label("Started at").fill(f"{today().isoformat()}T14:00")
    form.get_by_label("Ended at").fill(f"{today().isoformat()}T15:40")
    form.get_by_label("Technician").fill("Tess Tech")
    form.get_by_role("button", name="Log the appointment").click()
    expect(page.get_by_role("cell", name="appointment 14:00–15:40, 100 min = 4 incidents")).to_be_visible()

    # the client user's dashboard shows four incidents fewer
    portal.reload()
    assert incidents_left(portal) == before - 4
    screenshot(portal, "portal-dashboard")

    # finance previews the month (the client's amount: 10 × $150 + 10 % tax) and issues it
    books = finance.sign_in("finance@example.com")
    books.goto(f"/finance/invoices?period={period}")
    preview = books.locator("#preview-FLOW")
    expect(preview).to_contain_text("$1,500.00")
    expect(preview).to_contain_text("$1,650.00")
    screenshot(books, "finance-preview")
    books.get_by_role("button", name=f"Issue invoices for {period}").click()
    # issuing is final: a second page says so and asks again
    expect(books.get_by_role("heading", name=f"Issue the invoices for {period}")).to_be_visible()
    books.get_by_role("button", name=f"Issue invoices for {period}").click()
    expect(books.locator("#preview-FLOW")).to_contain_text("Invoiced:")
    number = books.locator("#preview-FLOW a").first.inner_text().strip()

    # the client user downloads the PDF from the portal
    portal.goto("/portal/invoices")
    expect(portal.get_by_role("cell", name=number)).to_be_visible()
    with portal.expect_download() as arrived:
        portal.get_by_role("row", name=re.compile(number)).get_by_role("link", name="Download PDF").click()
    download = arrived.value
    assert download.suggested_filename == f"{number}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")

    # an admin lands on the users, the client user among them
    users = admin.sign_in("admin@example.com")
    expect(users).to_have_url(re.compile(r"/admin/users$"))
    expect(users.get_by_role("link", name=flow.client_user)).to_be_visible()
    screenshot(users, "admin-users")


# --- labels and the skip link -----------------------------------------------------------------


def test_every_field_on_every_form_page_has_a_label_and_skip_to_content_comes_first(person, ledger):
    labels = ledger.client_with_case("LABELS", "Label Works")
    activity = ledger.appointment(labels.case)
    invoice = ledger.invoice("LABELS")
    pages = {
        None: ["/sign-in"],
        "account_manager@example.com": [
            "/clients", "/clients/LABELS", "/clients/LABELS/cases/new", f"/cases/{labels.case}",
            "/clients/LABELS/bundles/new", "/clients/LABELS/work/new", "/clients/LABELS/quotes/new",
            f"/activities/{activity}/waive",
        ],
        "finance@example.com": [
            f"/finance/invoices?period={today().strftime('%Y-%m')}", f"/finance/invoices/{invoice}",
            "/finance/rate-card",
        ],
        "admin@example.com": ["/admin/users", f"/admin/users/{ledger.user_id(labels.client_user)}"],
        labels.client_user: ["/portal/", "/portal/quotes", "/portal/invoices"],
    }
    unlabelled, first = {}, {}

    for email, paths in pages.items():
        session = person()
        page = session.sign_in(email) if email else session.page()
        for path in paths:
            response = page.goto(path)
            assert response.status == 200, path
            unlabelled[path] = page.evaluate(UNLABELLED)
            first[path] = page.evaluate(FIRST_FOCUSABLE)

    assert {path: fields for path, fields in unlabelled.items() if fields} == {}
    assert {path: html for path, html in first.items() if 'class="skip"' not in (html or "")} == {}
    assert all("Skip to content" in html for html in first.values())


def test_the_skip_link_is_the_first_tab_stop_and_jumps_to_the_content(person, ledger):
    ledger.client_with_case("SKIP", "Skip & Co")
    page = person().sign_in("account_manager@example.com")
    page.goto("/clients/SKIP")

    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    page.keyboard.press("Enter")

    assert focused == "Skip to content"
    assert page.evaluate("document.activeElement.id") == "main"
    expect(page.locator(".skip")).not_to_be_in_viewport()  # shown only while focused


# --- the keyboard alone -----------------------------------------------------------------------


def tab_to(page: Page, selector: str, limit: int = 120) -> int:
    """Press Tab until the focused element matches ``selector``; returns how many presses it took."""
    for presses in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return presses
        page.keyboard.press("Tab")
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def arrive(page: Page, path_pattern: str) -> None:
    """Wait until the page is at ``path_pattern`` and loaded, before pressing more keys."""
    expect(page).to_have_url(re.compile(path_pattern))
    page.wait_for_load_state()


def type_moment(page: Page, moment: datetime) -> None:
    """Type a date and time into a focused datetime-local field, as Chromium's en-US segments take it."""
    page.keyboard.type(moment.strftime("%m%d%Y"))
    page.keyboard.press("Tab")  # from the year to the hour
    page.keyboard.type(moment.strftime("%I%M%p"))


def test_signing_in_and_logging_an_appointment_with_the_keyboard_alone(person, ledger):
    keys = ledger.client_with_case("KEYS", "Keyboard Only Ltd")
    page = person().page()
    page.goto("/sign-in")

    tab_to(page, "#email")
    page.keyboard.type("account_manager@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    arrive(page, r"/clients$")

    tab_to(page, 'a[href="/clients/KEYS"]')
    page.keyboard.press("Enter")
    arrive(page, r"/clients/KEYS$")
    tab_to(page, f'a[href="/cases/{keys.case}"]')
    page.keyboard.press("Enter")
    arrive(page, f"/cases/{keys.case}$")

    tab_to(page, "#started_at")
    type_moment(page, datetime.combine(today(), time(14)))
    tab_to(page, "#ended_at")
    type_moment(page, datetime.combine(today(), time(15, 40)))
    tab_to(page, "#technician")
    page.keyboard.type("Kim Keys")
    page.keyboard.press("Enter")

    expect(page.get_by_role("cell", name="appointment 14:00–15:40, 100 min = 4 incidents")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Logged: appointment 14:00–15:40")
