"""Getting paid in a real browser: finance records a part payment on an invoice's page and reads the
aging report, and a client reads what it owes in the portal. Screenshots go to
``test-artifacts/screenshots/``. One served app (SQLite) for the module, set up by tests/e2e/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from ledger.extensions import db
from ledger.models import Invoice
from ledger.money import Money
from ledger.web.common import long_date
from tests.browser import Ledger, screenshot, today

pytestmark = [pytest.mark.browser, pytest.mark.served]

#: what finance receives in part, in USD
PART = Decimal("500.00")


@dataclass
class Issued:
    """An issued invoice of a test's client, with what its pages should show."""

    number: str
    client_user: str
    total: Money
    due_on: str  # as the English pages write it


def issue_invoice(ledger: Ledger, code: str, name: str) -> Issued:
    """``code`` with 10 incidents bought today and this month's invoice issued today."""
    seeded = ledger.client_with_case(code, name)
    number = ledger.invoice(code)
    with ledger.app.app_context():
        invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == number))
        issued = Issued(number, seeded.client_user, Money.from_minor(invoice.total_minor, invoice.currency),
                        long_date(invoice.due_on, "en_US"))
    assert issued.total.amount > PART, "the part payment must leave something due"
    return issued


def shown(amount: Decimal) -> str:
    return Money(amount, "USD").format("en_US")


def record_part_payment(page, invoice: Issued) -> None:
    """On the finance invoice page, record ``PART`` received today by bank transfer."""
    form = page.locator("form").filter(has=page.get_by_role("button", name="Record the payment"))
    expect(form.get_by_role("heading", name="Record a payment")).to_be_visible()
    form.get_by_label("Amount").fill(str(PART))
    form.get_by_label("Received on").fill(today().isoformat())
    form.get_by_label("Method").fill("bank transfer")
    form.get_by_label("Reference").fill(f"{invoice.number} part")
    form.get_by_role("button", name="Record the payment").click()


def test_finance_records_a_part_payment_and_sees_the_invoice_partially_paid(person, ledger):
    invoice = issue_invoice(ledger, "RCVP", "Part Pay Industries")
    due = invoice.total.amount - PART
    finance = person()

    page = finance.sign_in("finance@example.com")
    page.goto(f"/finance/invoices/{invoice.number}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(invoice.number)
    expect(page.locator("#status")).to_have_text("open")
    expect(page.locator("#amount-due")).to_have_text(shown(invoice.total.amount))

    record_part_payment(page, invoice)
    expect(page.get_by_text(f"Payment of {shown(PART)} recorded against {invoice.number}.")).to_be_visible()
    expect(page.locator("#status")).to_have_text("partially paid")
    expect(page.locator("#amount-paid")).to_have_text(shown(PART))
    expect(page.locator("#amount-due")).to_have_text(shown(due))
    expect(page.locator("#payments").get_by_role("row").filter(has_text="bank transfer")).to_contain_text(shown(PART))
    screenshot(page, "payment-recorded")


def test_finance_reads_the_invoice_in_the_aging_report(person, ledger):
    invoice = issue_invoice(ledger, "RCVA", "Aging Works")
    due = invoice.total.amount - PART
    finance = person()

    page = finance.sign_in("finance@example.com")
    page.goto(f"/finance/invoices/{invoice.number}")
    record_part_payment(page, invoice)
    expect(page.locator("#status")).to_have_text("partially paid")

    page.get_by_role("navigation").get_by_role("link", name="Receivables").click()
    expect(page).to_have_url(f"{finance.local}/finance/receivables")
    expect(page.get_by_role("heading", level=1)).to_have_text("Receivables by age")
    expect(page.get_by_role("heading", level=2, name="USD")).to_be_visible()
    aging = page.locator("#aging-USD")
    expect(aging.get_by_role("columnheader")).to_have_text(
        ["Current", "1–30 days", "31–60 days", "61–90 days", "Over 90 days", "Total"])
    expect(aging.locator("tbody td").first).to_contain_text("$")
    screenshot(page, "aging-report")

    aging.locator("tbody td").first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Receivables USD: Current")
    row = page.get_by_role("row").filter(has_text=invoice.number)
    expect(row).to_contain_text("Aging Works (RCVA)")
    expect(row).to_contain_text("partially paid")
    expect(row).to_contain_text(shown(invoice.total.amount))
    expect(row).to_contain_text(shown(due))
    screenshot(page, "aging-report-current")


def test_the_client_sees_status_due_date_amount_due_and_the_total_outstanding(person, ledger):
    invoice = issue_invoice(ledger, "RCVC", "Owing Portal Co")
    due = invoice.total.amount - PART
    finance, client_user = person(), person()

    page = finance.sign_in("finance@example.com")
    page.goto(f"/finance/invoices/{invoice.number}")
    record_part_payment(page, invoice)
    expect(page.locator("#status")).to_have_text("partially paid")

    portal = client_user.sign_in(invoice.client_user)
    portal.get_by_role("navigation").get_by_role("link", name="Invoices").click()
    expect(portal.get_by_role("heading", level=1)).to_have_text("Invoices")
    expect(portal.locator("#outstanding")).to_have_text(shown(due))
    expect(portal.get_by_text("Total outstanding:")).to_be_visible()
    row = portal.locator(f"#invoice-{invoice.number}")
    cells = row.get_by_role("cell")
    expect(cells.nth(0)).to_have_text(invoice.number)
    expect(cells.nth(4)).to_have_text(invoice.due_on)
    expect(cells.nth(5)).to_have_text("partially paid")
    expect(cells.nth(6)).to_have_text(shown(invoice.total.amount))
    expect(cells.nth(7)).to_have_text(shown(due))
    screenshot(portal, "portal-amounts-due")


def test_finance_reconciles_a_bank_csv_and_confirms_the_match(person, ledger):
    invoice = issue_invoice(ledger, "RCVB", "Bank Match Ltd")
    statement = (f"Buchungstag;Betrag;Verwendungszweck\n"
                 f"{today():%d.%m.%Y};{str(invoice.total.amount).replace('.', ',')};Zahlung {invoice.number}\n"
                 f"{today():%d.%m.%Y};12,00;<b>Miete</b>\n").encode()
    finance = person()

    page = finance.sign_in("finance@example.com")
    page.goto("/finance/receivables")
    page.get_by_role("link", name="Reconcile a bank file").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bank reconciliation")
    page.get_by_label("Bank CSV").set_input_files(files=[{"name": "bank.csv", "mimeType": "text/csv",
                                                          "buffer": statement}])
    page.get_by_label("Currency of lines without a currency column").fill("USD")
    page.get_by_role("button", name="Read the file").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Bank reconciliation: check the matches")
    matched = page.locator("#matched").get_by_role("row").filter(has_text=invoice.number)
    expect(matched).to_contain_text(shown(invoice.total.amount))
    left = page.locator("#undecided").get_by_role("row").filter(has_text="<b>Miete</b>")
    expect(left).to_contain_text("no invoice number in the reference")
    screenshot(page, "reconciliation-preview")

    page.get_by_role("button", name="Post the payments").click()
    expect(page.get_by_text("1 payment(s) posted from the bank file.")).to_be_visible()
    screenshot(page, "reconciliation-posted")
    page.goto(f"/finance/invoices/{invoice.number}")
    expect(page.locator("#status")).to_have_text("paid")
    expect(page.locator("#payments").get_by_role("row").filter(has_text="bank transfer")).to_contain_text(
        f"Zahlung {invoice.number}")
