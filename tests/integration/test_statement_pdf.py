"""The statement of account as a PDF in the client's language: finance downloads any client's from the
statement page, a client its own from the portal; another client's code is a 404."""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from ledger.extensions import db
from ledger.models import Invoice
from ledger.services import payments
from tests.helpers import add_client, bill_march, built_once, issue, make_march_client, pdf_text

#: BRAU's March invoice: 10,564.37 net + 19 % = 12,571.60 EUR (see tests.helpers.MARCH_TAXES)
TOTAL = "12.571,60 €"


@built_once(after=("rate_card",))
def brau(app, after):
    """A German client invoiced for March (issued 1 April), 1,000 EUR paid on 10 April by bank transfer."""
    make_march_client(functools.partial(add_client, app), "BRAU", "EUR", "de_DE", "19", name="Brauerei Hopfen GmbH")
    with app.app_context():  # closed before the pages are asked: each request has its own context
        bill_march(db.session, "BRAU")
        issue(db.session)
        invoice = db.session.scalar(select(Invoice).where(Invoice.kind == "invoice"))
        payments.record_payment(db.session, invoice, Decimal("1000"), date(2026, 4, 10), "Überweisung", "RE 1",
                                None, today=date(2026, 4, 30))
        db.session.commit()
        return invoice.number


def test_the_statement_pdf_shows_opening_balance_each_line_and_closing_balance_in_german(brau, browser_as):
    finance = browser_as("finance")

    response = finance.get("/statements/BRAU.pdf?from=2026-04-05&to=2026-04-30")

    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.get_data())
    assert "Kontoauszug" in text and "Brauerei Hopfen GmbH" in text
    assert f"Anfangssaldo am 5. April 2026 {TOTAL}" in text
    assert f"10.04.2026 {brau} Zahlungseingang, Überweisung, Ref. RE 1 -1.000,00 €" in text
    assert "Endsaldo am 30. April 2026 11.571,60 €" in text
    assert [label for label in ("Statement of account", "Opening balance", "Closing balance", "Payment")
            if label in text] == []


def test_the_whole_year_lists_the_invoice_by_its_month_in_german(brau, browser_as):
    text = pdf_text(browser_as("finance").get("/statements/BRAU.pdf?from=2026-01-01&to=2026-12-31").get_data())

    assert "Anfangssaldo am 1. Januar 2026 0,00 €" in text
    assert f"01.04.2026 {brau} Rechnung für März 2026 {TOTAL}" in text
    assert "Endsaldo am 31. Dezember 2026 11.571,60 €" in text


def test_the_statement_page_links_to_its_pdf(brau, browser_as):
    page = browser_as("finance").get("/finance/clients/BRAU/statement?from=2026-04-05&to=2026-04-30")

    assert 'href="/statements/BRAU.pdf?from=2026-04-05&amp;to=2026-04-30"' in page.get_data(as_text=True)


def test_a_client_downloads_its_own_statement_and_gets_a_404_for_another_clients(brau, browser_as, make_client):
    make_client("OTHER")
    client = browser_as("client", "BRAU")

    own = client.get("/statements/BRAU.pdf?from=2026-01-01&to=2026-12-31")
    other = client.get("/statements/OTHER.pdf")

    assert own.status_code == 200 and "Endsaldo" in pdf_text(own.get_data())
    assert other.status_code == 404
    assert 'href="/statements/BRAU.pdf?' in client.get("/portal/statement").get_data(as_text=True)


def test_an_account_manager_may_not_download_statements(brau, browser_as):
    assert browser_as("account_manager").get("/statements/BRAU.pdf").status_code == 403
