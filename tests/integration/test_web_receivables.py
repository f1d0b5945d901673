"""Getting paid in the pages: finance records and reverses payments on the invoice page, reads the aging
report (with drill-down and CSV) and statements; the portal shows status, due date and amount due."""

from __future__ import annotations

import csv
import io

import pytest

from ledger.web.common import today
from tests.helpers import form_fields, page_text, words


@pytest.fixture
def finance(finance_page):
    return finance_page


def record(browser, invoice: str, amount: str, paid_on: str | None = None, **extra):
    fields = form_fields(browser.get(f"/finance/invoices/{invoice}"), f"/finance/invoices/{invoice}/payments")
    fields.update(amount=amount, paid_on=paid_on or today().isoformat(), **extra)
    return browser.client.post(f"/finance/invoices/{invoice}/payments", data=fields)


def standing(browser, invoice: str) -> str:
    text = words(browser.get(f"/finance/invoices/{invoice}"))
    return text.split("Payments", 1)[1].split("Amount due", 1)[1].split()[0]


def test_finance_records_a_part_payment_and_then_the_rest(finance, march_invoice):
    response = record(finance, march_invoice, "1000.00", method="bank transfer", reference="ACME 77")

    assert response.status_code == 302
    page = words(finance.get(f"/finance/invoices/{march_invoice}"))
    assert "Payment of $1,000.00 recorded" in page
    assert "Status partially paid Amount paid $1,000.00 Amount due $2,300.00" in page
    assert "bank transfer ACME 77 $1,000.00" in page

    record(finance, march_invoice, "2300")
    page = words(finance.get(f"/finance/invoices/{march_invoice}"))
    assert "Status paid Amount paid $3,300.00 Amount due $0.00" in page
    assert "Record a payment" not in page


@pytest.mark.parametrize(("amount", "paid_on", "message"), [
    ("0", None, "a payment is a positive amount"),
    ("-5", None, "a payment is a positive amount"),
    ("1.005", None, "at most 2 decimals"),
    ("3300.01", None, "more than the amount due ($3300.00"),
    ("10", "2099-01-01", "cannot be dated in the future"),
    ("10", "2026-01-01", "before the invoice was issued"),
    ("", None, "Give the amount received."),
])
def test_a_bad_payment_is_shown_beside_its_field_and_nothing_is_recorded(finance, march_invoice, amount,
                                                                         paid_on, message):
    response = record(finance, march_invoice, amount, paid_on)

    assert response.status_code == 422
    assert message.replace("$3300.00", "3300.00 USD").split("$")[0] in page_text(response)
    assert 'class="error"' in page_text(response)
    assert standing(finance, march_invoice) == "$3,300.00"


def test_the_same_payment_form_sent_twice_records_one_payment(finance, march_invoice):
    fields = form_fields(finance.get(f"/finance/invoices/{march_invoice}"), f"/finance/invoices/{march_invoice}/payments")
    fields.update(amount="10", paid_on=today().isoformat())
    first = finance.client.post(f"/finance/invoices/{march_invoice}/payments", data=fields)
    again = finance.client.post(f"/finance/invoices/{march_invoice}/payments", data=fields)

    assert first.status_code == again.status_code == 302
    assert standing(finance, march_invoice) == "$3,290.00"


def test_reversing_a_payment_asks_first_then_makes_the_amount_due_again(finance, march_invoice):
    record(finance, march_invoice, "300")
    page = finance.get(f"/finance/invoices/{march_invoice}")
    action = page_text(page).split('action="/finance/payments/')[1].split('"')[0]
    fields = form_fields(page, f"/finance/payments/{action}")
    fields.update(reason="bounced")

    asked = finance.client.post(f"/finance/payments/{action}", data=fields)
    assert "Reverse the payment of $300.00" in words(asked)
    assert standing(finance, march_invoice) == "$3,000.00"

    assert finance.confirm(asked).status_code == 302
    page = words(finance.get(f"/finance/invoices/{march_invoice}"))
    assert "Amount due $3,300.00" in page and "reversal: bounced" in page and "reversed" in page


def test_the_aging_report_drills_down_and_downloads_as_csv(finance, march_invoice):
    record(finance, march_invoice, "300")

    report = words(finance.get("/finance/receivables"))
    assert "USD" in report and "Current 1–30 days 31–60 days 61–90 days Over 90 days Total" in report
    assert "$3,000.00 $0.00 $0.00 $0.00 $0.00 $3,000.00" in report

    bucket = words(finance.get("/finance/receivables/USD/current"))
    assert march_invoice in bucket and "$3,000.00" in bucket

    later = words(finance.get("/finance/receivables/USD/31-60?as_of=" + _days_after_due(finance, march_invoice, 45)))
    assert march_invoice in later

    rows = list(csv.DictReader(io.StringIO(finance.get("/finance/receivables.csv").get_data(as_text=True))))
    assert [(r["invoice"], r["bucket"], r["amount_due"], r["status"]) for r in rows] == [
        (march_invoice, "current", "3000.00", "partially_paid")]


def _days_after_due(finance, invoice: str, days: int) -> str:
    from datetime import timedelta

    from ledger.extensions import db
    from ledger.models import Invoice

    with finance.client.application.app_context():
        due = db.session.query(Invoice.due_on).filter_by(number=invoice).scalar()
    return (due + timedelta(days=days)).isoformat()


def test_a_statement_of_account_closes_on_what_is_due(finance, march_invoice):
    record(finance, march_invoice, "300", reference="R1")

    page = words(finance.get("/finance/clients/ACME/statement"))

    assert "Opening balance $0.00" in page
    assert f"{march_invoice} Invoice for 2026-03 $3,300.00" in page
    assert "Payment by" not in page and "ref. R1 -$300.00" in page
    assert "Closing balance $3,000.00" in page


def test_the_portal_shows_status_due_date_amount_due_and_the_total_outstanding(app, finance, march_invoice,
                                                                              browser_as):
    record(finance, march_invoice, "300")
    client = browser_as("client", "ACME")

    page = words(client.get("/portal/invoices"))

    assert "Total outstanding: $3,000.00" in page
    assert "partially paid $3,300.00 $3,000.00" in page
    statement = words(client.get("/portal/statement"))
    assert "Closing balance $3,000.00" in statement
    assert client.get("/finance/receivables").status_code == 403
