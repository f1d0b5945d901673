"""The pages in a real browser: Debian's headless Chromium driven by Playwright against ``ledger serve``.

Each role's main flow end to end (an account manager logs an appointment, the client sees the
balance drop, finance previews and issues the month, the client downloads the PDF), every form
field labelled, a "Skip to content" link first, and signing in and logging an appointment with
the keyboard alone. Screenshots of the main pages go to ``test-artifacts/screenshots/``.
One served app (SQLite) for the module; each test keeps to client codes of its own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from ledger.extensions import db
from ledger.models import Client
from tests.browser import (
    FIRST_FOCUSABLE,
    PASSWORD,
    UNLABELLED,
    incidents_left,
    screenshot,
    today,
)

pytestmark = [pytest.mark.browser, pytest.mark.served]


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
    expect(page.get_by_role("cell", name=appointment_as_read(ledger, "FLOW"))).to_be_visible()

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


def appointment_as_read(ledger, code: str) -> str:
    """Today's 14:00–15:40 appointment, typed in the client's zone (the form's default), as the account
    manager (whose zone is UTC) reads it in the history."""
    with ledger.app.app_context():
        zone = ZoneInfo(db.session.scalar(sa.select(Client.time_zone).where(Client.code == code)))
    start, end = (datetime.combine(today(), moment, zone).astimezone(UTC) for moment in (time(14), time(15, 40)))
    return f"appointment {start:%H:%M}–{end:%H:%M} UTC, 100 min = 4 incidents"


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

    expect(page.get_by_role("cell", name=appointment_as_read(ledger, "KEYS"))).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Logged: {appointment_as_read(ledger, 'KEYS')}")
