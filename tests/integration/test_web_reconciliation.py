"""Bank reconciliation in the pages: finance uploads a bank CSV, sees the proposed matches and the lines
left for a decision, confirms, and the matches are posted as payments, each bank line once ever."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from ledger.extensions import db
from ledger.models import BankLine, Invoice, Payment
from ledger.services import payments
from tests.helpers import bill_march, form_fields, issue, make_march_client, page_text, words

#: ACME's March invoice: 10,564.37 + 8.25 % tax = 11,435.93 USD (see tests.helpers.MARCH_TAXES)
INVOICE, TOTAL = "INV-2026-00001", "11435.93"
HEADER = "Buchungstag;Betrag;Währung;Verwendungszweck\n"


@pytest.fixture
def acme(app, make_client, rate_card) -> str:
    """ACME's March invoice, issued; the pages' tests read the database in app contexts of their own, so
    each request has its own (a context held open would be shared by every request of the test client)."""
    make_march_client(make_client, "ACME")
    with app.app_context():
        bill_march(db.session, "ACME")
        issue(db.session)
    return INVOICE


def upload(browser, content: bytes | str | None, currency: str = "USD"):
    """Choose the file on the upload page and send it."""
    fields = form_fields(browser.get("/finance/reconciliation"), "/finance/reconciliation")
    fields["currency"] = currency
    if content is not None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        fields["file"] = FileStorage(io.BytesIO(data), "bank.csv", content_type="text/csv")
    # encoded here, in memory: the test client would spool a large body to a file it never closes
    boundary, body = encode_multipart(MultiDict(fields))
    return browser.client.post("/finance/reconciliation", data=body,
                               content_type=f"multipart/form-data; boundary={boundary}")


def posted(app) -> list[tuple[str, str, int]]:
    """The payments posted from bank lines, as (method, reference, minor units)."""
    with app.app_context():
        rows = db.session.execute(sa.select(Payment.method, Payment.reference, Payment.amount_minor)
                                  .join(BankLine, BankLine.payment_id == Payment.id).order_by(Payment.id))
        return [tuple(row) for row in rows]


STATEMENT = HEADER + "\n".join([
    f"15.04.2026;{TOTAL.replace('.', ',')};USD;Zahlung {INVOICE} danke",
    f"16.04.2026;100,00;USD;Teilzahlung {INVOICE}",
    "16.04.2026;250,00;USD;INV-2026-00777",
    "17.04.2026;80,00;USD;Miete April",
    f"18.04.2026;{TOTAL.replace('.', ',')};EUR;{INVOICE}",
    "19.04.2026;-12,00;USD;Kontoführung",
]) + "\n"


def test_finance_sees_the_match_and_the_lines_left_for_a_decision_and_nothing_is_posted_yet(app, acme,
                                                                                           browser_as):
    finance = browser_as("finance")

    preview = upload(finance, STATEMENT)

    assert preview.status_code == 200
    text = words(preview)
    matched = text.split("Proposed matches", 1)[1].split("Left for a decision", 1)[0]
    assert f"2 2026-04-15 Zahlung {INVOICE} danke {INVOICE} $11,435.93" in matched
    left = text.split("Left for a decision", 1)[1]
    for row, reason in [(3, f"{INVOICE} is paid by another line"), (4, "unknown invoice number INV-2026-00777"),
                        (5, "no invoice number in the reference"), (6, f"in EUR; {INVOICE} is in USD"),
                        (7, "not money received (zero or outgoing)")]:
        assert f"{row} 2026-04-" in left and reason in left
    assert "Post 1 payment by bank transfer" in text
    assert posted(app) == []


def test_confirming_posts_the_match_as_a_bank_transfer_and_the_same_file_again_posts_nothing(app, acme,
                                                                                            browser_as):
    finance = browser_as("finance")

    done = finance.confirm(upload(finance, STATEMENT))

    assert done.status_code == 302
    assert "1 payment(s) posted from the bank file." in words(finance.get("/finance/reconciliation"))
    assert posted(app) == [("bank transfer", f"Zahlung {INVOICE} danke", 1_143_593)]
    assert "Status paid" in words(finance.get(f"/finance/invoices/{INVOICE}"))

    again = upload(finance, STATEMENT)
    assert "already posted from an earlier upload" in words(again)
    assert "No line matches an invoice's amount due." in words(again)
    later = upload(finance, HEADER + f"20.04.2026;{TOTAL.replace('.', ',')};USD;{INVOICE}\n")
    assert f"{INVOICE} is paid" in words(later)
    assert len(posted(app)) == 1


def test_the_confirmation_sent_twice_posts_once(app, acme, browser_as):
    finance = browser_as("finance")
    preview = upload(finance, STATEMENT)

    finance.confirm(preview)
    finance.confirm(preview)

    assert len(posted(app)) == 1


def test_a_part_payment_is_left_for_a_decision(app, acme, browser_as):
    preview = upload(browser_as("finance"), HEADER + f"16.04.2026;100,00;USD;Teilzahlung {INVOICE}\n")

    assert "a part payment: 100.00 of 11435.93 due" in words(preview) and "Post 1 payment" not in words(preview)


def test_a_payment_recorded_between_the_preview_and_the_confirmation_is_respected(app, acme, browser_as):
    """The confirmation proposes again: the line no longer pays the amount due exactly, so nothing is posted."""
    finance = browser_as("finance")
    preview = upload(finance, STATEMENT)

    with app.app_context():
        invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == INVOICE))
        payments.record_payment(db.session, invoice, Decimal("1.00"), date(2026, 4, 20), None, None, None,
                                today=date(2026, 4, 30))
        db.session.commit()

    finance.confirm(preview)

    assert posted(app) == []


@pytest.mark.parametrize(("content", "message"), [
    (f"date;amount;reference\n15.04.2026;1,00;Müller {INVOICE}\n".encode("latin-1"),
     "row 2: the file is not UTF-8 (byte 0xFC)"),
    ("Datum;Betrag\n15.04.2026;1,00\n", "row 1: missing column 'reference'"),
    (HEADER + "15.04.2026;1,001;USD;x\n", "row 2, column 'amount': '1,001': USD amounts have at most 2 decimals"),
    (HEADER + "15.04.2026;zwölf;USD;x\n", "row 2, column 'amount': 'zwölf' is not an amount"),
    (HEADER + "31.04.2026;1,00;USD;x\n", "row 2, column 'date': '31.04.2026' is not a date"),
    (HEADER + f"15.04.2026;{TOTAL};USD;{INVOICE}\n" * 10_001, "at most 10,000 are read"),
    ("date,amount,reference\n" + f"2026-04-15,{TOTAL},{INVOICE}\n" * 100_000, "at most 2,097,152 (2 MB)"),
])
def test_a_bad_file_is_refused_naming_the_row_and_column_and_nothing_is_posted(app, acme, browser_as,
                                                                              content, message):
    finance = browser_as("finance")

    response = upload(finance, content)

    assert response.status_code == 422
    assert message in words(response) and "nothing was posted" in words(response)
    assert posted(app) == []


def test_formulas_and_markup_in_references_are_shown_as_text_and_never_matched(app, acme, browser_as):
    finance = browser_as("finance")
    content = ('date,amount,reference\n'
               f'2026-04-15,{TOTAL},"=HYPERLINK(""http://evil.example"",""{INVOICE}"")"\n'
               f'2026-04-16,{TOTAL},<script>alert(1)</script> {INVOICE}\n'
               '2026-04-16,5.00,<b>bold</b>\n')

    preview = upload(finance, content)

    html = preview.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    text = words(preview)
    assert '=HYPERLINK("http://evil.example","INV-2026-00001")' in text
    assert "starts like a spreadsheet formula" in text
    # the markup line names the invoice and pays it exactly: it is matched, and posted as plain text
    finance.confirm(preview)
    assert posted(app) == [("bank transfer", f"<script>alert(1)</script> {INVOICE}", 1_143_593)]
    page = finance.get(f"/finance/invoices/{INVOICE}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page


def test_only_finance_reconciles(acme, browser_as):
    assert browser_as("account_manager").get("/finance/reconciliation").status_code == 403
    assert browser_as("client", "ACME").get("/finance/reconciliation").status_code == 403


def test_the_upload_form_needs_a_file_and_a_known_currency(acme, browser_as):
    finance = browser_as("finance")

    missing = upload(finance, None)
    unknown = upload(finance, HEADER, currency="ABC")

    assert missing.status_code == 422 and "Choose the bank's CSV export." in page_text(missing)
    assert unknown.status_code == 422 and "'ABC' is not an ISO 4217 currency code." in page_text(unknown)
