"""Daily work in a real browser: an account manager creates a client through the form (a wrong field
first, shown beside it), and filters a client's running-balance history by kind and date.
Screenshots go to ``test-artifacts/screenshots/``. One served app (SQLite) for the module, set up as in
tests/e2e/conftest.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, today

pytestmark = [pytest.mark.browser, pytest.mark.served]


def test_an_account_manager_creates_a_client_after_fixing_the_field_the_page_names(person, ledger):
    page = person().sign_in("account_manager@example.com")
    page.goto("/clients")
    page.get_by_role("link", name="New client").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New client")

    page.locator("#code").fill("WEBCO")
    page.locator("#name").fill("Web <Co> & Partners")
    page.locator("#currency").fill("USD")
    page.locator("#locale").fill("en_XX_bad")
    page.locator("#tax_rate").fill("7.5")
    page.locator("#maintenance_fee").fill("2400.00")
    page.locator("#billing_emails").fill("ap@webco.example")
    page.get_by_role("button", name="Create the client").click()

    expect(page.locator("#locale-error")).to_contain_text("is not a known locale")
    expect(page.locator("#name")).to_have_value("Web <Co> & Partners")  # what was typed is kept
    screenshot(page, "daily-new-client-error")
    page.locator("#locale").fill("en_US")
    page.get_by_role("button", name="Create the client").click()

    expect(page).to_have_url(re.compile(r"/clients/WEBCO$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Web <Co> & Partners")
    expect(page.get_by_text("Client WEBCO created.")).to_be_visible()
    screenshot(page, "daily-new-client-created")


def test_the_balance_history_filters_by_kind_and_date(person, ledger):
    seeded = ledger.client_with_case("HIST", "History Works")
    ledger.appointment(seeded.case)  # 100 minutes: 4 incidents of the 10 bought today
    page = person().sign_in("account_manager@example.com")

    page.goto(f"/clients/{seeded.code}")
    page.get_by_role("link", name="Balance history").click()
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(4)  # opening, the purchase, the charge, closing
    expect(page.locator("#closing")).to_have_text("6")
    screenshot(page, "daily-history-all")

    page.get_by_label("Charge", exact=True).check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#history tbody tr.kind-charge")).to_have_count(1)
    expect(page.locator("#history tbody tr.kind-purchase")).to_have_count(0)
    expect(page.locator("#closing")).to_have_text("6")  # the balance at the end, whatever is listed
    expect(page.locator("#csv")).to_have_attribute("href", re.compile(r"history\.csv\?.*kind=charge"))
    screenshot(page, "daily-history-charges")

    page.locator("#start").fill(today().isoformat())
    page.locator("#end").fill(today().replace(year=today().year - 1).isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#end-error")).to_have_text("The end is before the start.")
    screenshot(page, "daily-history-bad-range")
