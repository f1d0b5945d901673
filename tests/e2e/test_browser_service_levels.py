"""Service levels in a real browser: the account manager's queue and a case's due times, a client
opening a case and reading its monthly summary. Screenshots go to ``test-artifacts/screenshots/``.
One served app (SQLite) for the module, set up by tests/e2e/conftest.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from ledger.extensions import db
from ledger.models import Case, Client
from ledger.services import sla, support
from tests.browser import Ledger, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.served]


def seed_cases(ledger: Ledger, code: str) -> dict[str, str]:
    """Plans seeded, ``code`` on the standard plan with a breached, a due-soon and an answered case."""
    now = datetime.now(UTC)
    with ledger.app.app_context():
        sla.seed_support_plans(db.session)
        client = db.session.scalar(sa.select(Client).where(Client.code == code))
        late = support.open_case(db.session, client, "Payroll export fails", "critical", now - timedelta(hours=6))
        soon = support.open_case(db.session, client, "Warehouse scanner offline", "critical", now - timedelta(hours=3))
        answered = support.open_case(db.session, client, "Slow reports", "critical", now - timedelta(hours=1))
        support.log_technician_response(db.session, answered, now - timedelta(minutes=40), "Priya Raman")
        db.session.commit()
        return {"late": late.number, "soon": soon.number, "answered": answered.number}


def test_the_queue_marks_breached_and_due_soon_cases_and_the_case_page_shows_its_due_times(person, ledger):
    seeded = ledger.client_with_case("SLAQ", "Queue Industries")
    cases = seed_cases(ledger, "SLAQ")
    manager = person()

    page = manager.sign_in("account_manager@example.com")
    page.get_by_role("link", name="Case queue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Case queue")
    late_row = page.get_by_role("row").filter(has_text=cases["late"])
    expect(late_row).to_contain_text("Breached")
    expect(page.get_by_role("row").filter(has_text=cases["soon"])).to_contain_text("Due soon")
    numbers = [re.match(r"C-\d+", row).group(0) for row in page.locator("table.queue tbody tr").all_inner_texts()]
    assert numbers.index(cases["late"]) < numbers.index(cases["soon"]) < numbers.index(cases["answered"])
    assert seeded.case in numbers
    screenshot(page, "case-queue")

    page.get_by_role("link", name=cases["soon"]).click()
    levels = page.locator("table.levels")
    expect(levels).to_contain_text("standard")
    expect(page.locator("#respond-target")).to_contain_text("pending")
    expect(page.locator("#resolve-target")).to_contain_text("pending")
    expect(page.get_by_text("Times are in UTC; the support plan's business hours are kept in America/Toronto")).to_be_visible()
    screenshot(page, "case-due-times")

    page.get_by_role("button", name="Start work: in progress").click()
    expect(page.locator("#case-status")).to_have_text("in progress")
    page.get_by_role("button", name="Waiting on the customer").click()
    expect(page.locator("#case-status")).to_have_text("waiting on customer")
    expect(page.locator("#resolve-target")).to_contain_text("paused while waiting on the customer")
    page.get_by_label("Resolved by").select_option("fix")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#case-status")).to_have_text("resolved")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    screenshot(page, "case-resolved")


def test_a_client_opens_a_case_sees_its_due_times_and_reads_the_monthly_summary(person, ledger):
    seeded = ledger.client_with_case("SLAP", "Portal Works")
    seed_cases(ledger, "SLAP")
    client_user = person()

    page = client_user.sign_in(seeded.client_user)
    page.get_by_role("navigation").get_by_role("link", name="Cases").click()
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Subject").fill("Invoices print blank")
    page.get_by_label("Severity").select_option("major")
    page.get_by_label("Description").fill("Since this morning every invoice prints as a blank page.")
    screenshot(page, "portal-open-case")
    page.get_by_role("button", name="Open the case").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Invoices print blank")
    expect(page.locator("#respond-target")).to_contain_text("pending")
    screenshot(page, "portal-case-due-times")

    page.get_by_role("link", name="All cases").click()
    expect(page.get_by_role("row").filter(has_text="Invoices print blank")).to_contain_text("pending")
    screenshot(page, "portal-cases")

    page.get_by_role("navigation").get_by_role("link", name="Service levels").click()
    with ledger.app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "SLAP"))
        report = sla.sla_report(db.session, client, datetime.now(UTC).strftime("%Y-%m"))
        opened = db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.client_id == client.id))
    critical = next(line for line in report.severities if line.severity == "critical")
    expect(page.locator("#severity-critical td").nth(1)).to_have_text(str(critical.cases))
    expect(page.locator("#severity-critical td").nth(3)).to_have_text(str(critical.response_breached))
    assert sum(line.cases for line in report.severities) <= opened
    screenshot(page, "portal-service-levels")
