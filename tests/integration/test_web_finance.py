"""The finance pages: the month's preview and batch, invoices, credit notes, the rate card, the CSV export.

SPEC.md: finance runs the monthly invoice batch, downloads and re-downloads PDFs,
issues credit notes, maintains the rate card and exports invoices for the accounting
system. Money is shown with Babel in the client's locale; running a month twice issues
nothing new; a re-download returns the same bytes; a quote keeps its rate-card version.

The tests sign in with a password and send each form's CSRF token, as a browser does.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ledger.extensions import db
from ledger.models import Invoice
from ledger.web.common import today
from tests.helpers import (
    MARCH,
    Browser,
    both_engines,
    form_fields,
    issue_march_in_pages,
    number,
    page_text,
    words,
)

# --- finance at the pages (a browser: tests/helpers.py) ------------------------


@pytest.fixture
def finance(finance_page) -> Browser:
    return finance_page


# --- data ------------------------------------------------------------------------------


def count_invoices(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Invoice.id)))


# --- the month's preview ----------------------------------------------------------------


def test_preview_shows_each_clients_invoice_in_their_own_locale_and_stores_nothing(app, finance, make_client, sell):
    make_client("ACME")
    make_client("BERLIN", currency="EUR", locale="de_DE", tax_rate=Decimal(19))
    make_client("IDLE")
    sell("ACME", 10, "2026-03-10")
    sell("BERLIN", 5, "2026-03-20")

    response = finance.get(f"/finance/invoices?period={MARCH}")

    assert response.status_code == 200
    page = page_text(response)
    acme = page.split('id="preview-ACME"')[1].split("</section>")[0]
    assert "Service & Support Incidents: bundle of 10, purchased 2026-03-10" in acme
    assert ["$200.00", "$2,000.00", "$2,000.00", "$200.00", "$2,200.00"] == re.findall(r"\$[\d,]+\.\d\d", acme)
    berlin = page.split('id="preview-BERLIN"')[1].split("</section>")[0]
    assert "Tax 19 %" in berlin
    assert ["200,00\xa0€", "1.000,00\xa0€", "1.000,00\xa0€", "190,00\xa0€", "1.190,00\xa0€"] == \
        re.findall(r"[\d.]+,\d\d\xa0€", berlin)
    assert "Nothing billable." in page.split('id="preview-IDLE"')[1].split("</section>")[0]
    assert "Issue invoices for 2026-03" in page
    assert "Nothing issued for this month yet." in page
    assert count_invoices(app) == 0


def test_preview_bills_a_month_only_what_was_bought_by_its_end(finance, make_client, sell):
    make_client("ACME")
    sell("ACME", 10, "2026-03-10")
    sell("ACME", 5, "2026-04-02")

    february = page_text(finance.get("/finance/invoices?period=2026-02"))
    april = page_text(finance.get("/finance/invoices?period=2026-04"))

    assert "Nothing billable." in february
    assert "bundle of 10" in april and "bundle of 5" in april and "$3,300.00" in april


def test_the_invoices_page_opens_on_last_month(finance):
    first = today().replace(day=1)
    last_month = (first.replace(year=first.year - 1, month=12) if first.month == 1
                  else first.replace(month=first.month - 1)).strftime("%Y-%m")

    page = page_text(finance.get("/finance/invoices"))

    assert f"Invoices for {last_month}" in page


@pytest.mark.parametrize("period", ["2026-13", "March", "2026-3", "2026-03-01"])
def test_a_malformed_period_is_refused(finance, period):
    response = finance.get(f"/finance/invoices?period={period}")

    assert response.status_code == 400
    assert "is not a month written YYYY-MM" in page_text(response)


# --- issuing -----------------------------------------------------------------------------


@both_engines
def test_issuing_numbers_the_invoices_and_a_second_issue_creates_none(app, finance, make_client, sell):
    make_client("ACME")
    make_client("BETA")
    make_client("IDLE")
    sell("ACME", 10, "2026-03-10")
    sell("BETA", 5, "2026-03-11")

    first = issue_march_in_pages(finance)
    shown = page_text(finance.get(f"/finance/invoices?period={MARCH}"))
    second = issue_march_in_pages(finance)
    again = page_text(finance.get(f"/finance/invoices?period={MARCH}"))

    assert first.status_code == 302 and first.location.endswith(f"/finance/invoices?period={MARCH}")
    assert f"Issued 2 invoices for 2026-03: {number('INV', 1)}, {number('INV', 2)}." in shown
    issued = shown.split("Issued for 2026-03")[1]
    assert number("INV", 1) in issued and "ACME" in issued and "$2,200.00" in issued
    assert number("INV", 2) in issued and "BETA" in issued and "$1,100.00" in issued
    assert f'href="/finance/invoices/{number("INV", 1)}/pdf"' in shown
    assert f"Invoiced: {number('INV', 1)} , $2,200.00." in words(finance.get(f"/finance/invoices?period={MARCH}"))
    assert second.status_code == 302
    assert "Nothing new to invoice for 2026-03." in again
    assert count_invoices(app) == 2


def test_a_month_that_has_not_begun_cannot_be_issued(app, finance, make_client, sell):
    make_client("ACME")
    sell("ACME", 10, "2026-03-10")
    following = today().replace(day=28) + timedelta(days=7)
    period = following.strftime("%Y-%m")

    page = page_text(finance.get(f"/finance/invoices?period={period}"))
    response = finance.confirm(finance.post("/finance/invoices/issue", {"period": period}))

    assert "Issue invoices for" not in page
    assert response.status_code == 302
    assert f"{period} has not begun yet" in page_text(finance.get(f"/finance/invoices?period={period}"))
    assert count_invoices(app) == 0


def test_issuing_without_the_forms_csrf_token_issues_nothing(app, finance, make_client, sell):
    make_client("ACME")
    sell("ACME", 10, "2026-03-10")

    response = finance.post("/finance/invoices/issue", {"period": MARCH}, csrf=False)

    assert response.status_code == 400
    assert count_invoices(app) == 0


# --- PDFs ---------------------------------------------------------------------------------


def test_the_invoice_pdf_downloads_as_the_same_bytes_every_time(finance, make_client, sell):
    make_client("ACME")
    sell("ACME", 10, "2026-03-10")
    issue_march_in_pages(finance)
    path = f"/finance/invoices/{number('INV', 1)}/pdf"

    first = finance.get(path)
    second = finance.get(path)

    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.headers["Content-Disposition"] == f'attachment; filename="{number("INV", 1)}.pdf"'
    assert first.data.startswith(b"%PDF")
    assert second.data == first.data


def test_an_unknown_invoice_is_not_found(finance):
    assert finance.get("/finance/invoices/INV-2026-99999").status_code == 404
    assert finance.get("/finance/invoices/INV-2026-99999/pdf").status_code == 404


# --- credit notes -------------------------------------------------------------------------


def credit(browser: Browser, invoice: str, reason: str, lines: list[int]):
    fields = form_fields(browser.get(f"/finance/invoices/{invoice}"), f"/finance/invoices/{invoice}/credit-notes")
    fields.update(reason=reason)
    return browser.confirm(browser.client.post(f"/finance/invoices/{invoice}/credit-notes",
                                               data={**fields, "lines": [str(p) for p in lines]}))


def test_the_invoice_page_shows_its_lines_and_totals(finance, march_invoice):
    page = page_text(finance.get(f"/finance/invoices/{march_invoice}"))

    assert f"Invoice {march_invoice}" in page
    assert "bundle of 10, purchased 2026-03-10" in page and "bundle of 5, purchased 2026-03-12" in page
    assert ["$200.00", "$2,000.00", "$200.00", "$1,000.00", "$3,000.00", "$300.00", "$3,300.00"] == \
        re.findall(r"\$[\d,]+\.\d\d", page.split("<table>")[1].split("</table>")[0])


def test_a_credit_note_for_a_ticked_line_opens_on_its_own_page(finance, march_invoice):
    response = credit(finance, march_invoice, "Bundle of 5 sold twice by mistake", [2])

    note = number("CN", 1)
    assert response.status_code == 302 and response.location.endswith(f"/finance/invoices/{note}")
    page = page_text(finance.get(response.location))
    assert f"Credit note {note}" in page
    assert f"credits {march_invoice}" in words(finance.get(response.location))
    assert "Reason: Bundle of 5 sold twice by mistake" in page
    assert "Credit: Service & Support Incidents: bundle of 5" in page
    assert "bundle of 10" not in page
    assert "-$1,100.00" in page
    invoice_page = page_text(finance.get(f"/finance/invoices/{march_invoice}"))
    assert note in invoice_page
    assert 'id="line-2"' not in invoice_page and 'id="line-1"' in invoice_page  # line 2 can be credited no more
    assert finance.get(f"/finance/invoices/{note}/pdf").data.startswith(b"%PDF")


def test_a_credit_note_with_no_line_ticked_credits_the_whole_invoice(finance, march_invoice):
    response = credit(finance, march_invoice, "Client went bankrupt", [])

    page = page_text(finance.get(response.location))
    assert "bundle of 10" in page and "bundle of 5" in page
    assert ["-$3,000.00", "-$300.00", "-$3,300.00"] == re.findall(r"-\$[\d,]+\.\d\d", page)[-3:]


@pytest.mark.parametrize(("reason", "lines", "field", "message"), [
    ("", [1], "reason", "A credit note needs a reason."),
    ("   ", [1], "reason", "A credit note needs a reason."),
    ("Credited before", [2], "lines", "a chosen line has been credited already"),
    ("No such line", [7], "lines", "'7' is not a valid choice"),
])
def test_a_refused_credit_note_shows_the_error_beside_its_field_and_issues_nothing(
        app, finance, march_invoice, reason, lines, field, message):
    assert credit(finance, march_invoice, "Bundle of 5 sold twice", [2]).status_code == 302
    before = count_invoices(app)

    response = credit(finance, march_invoice, reason, lines)

    assert response.status_code == 422
    page = page_text(response)
    error = page.split(f'id="{field}-error"')[1].split("</p>")[0]
    assert message in error
    assert count_invoices(app) == before


def test_a_credit_note_cannot_itself_be_credited(finance, march_invoice):
    note = credit(finance, march_invoice, "Wrong bundle", [2]).location.rsplit("/", 1)[1]

    page = page_text(finance.get(f"/finance/invoices/{note}"))
    response = finance.post(f"/finance/invoices/{note}/credit-notes", {"reason": "again"})

    assert "Issue a credit note" not in page
    assert response.status_code == 409


# --- the rate card -------------------------------------------------------------------------


def new_version(browser: Browser, **changes):
    fields = form_fields(browser.get("/finance/rate-card?currency=USD"), "/finance/rate-card")
    fields.update(changes)
    return browser.client.post("/finance/rate-card", data=fields)


def quote_ten_analyst_hours(api, code: str) -> dict:
    response = api.post(f"/clients/{code}/quotes", {
        "lines": [{"role": "analyst", "unit": "hour", "quantity": "10"}], "valid_until": "2099-12-31"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_the_rate_card_page_shows_the_card_in_force(finance, rate_card):
    page = page_text(finance.get("/finance/rate-card?currency=USD"))

    in_force = page.split('id="in-force"')[1].split("</table>")[0]
    assert "In force today: version 1" in page
    assert "Project Coordinator / Business Analyst" in in_force and "$150.00" in in_force and "$1,200.00" in in_force
    assert "Incident overage" in in_force and "$250.00" in in_force
    assert "40 h → 5 %, 80 h → 10 %, 160 h → 15 %" in page


def test_a_new_rate_card_version_applies_to_new_quotes_while_existing_quotes_keep_theirs(
        api, finance, make_client, rate_card):
    make_client("ACME")
    before = quote_ten_analyst_hours(api, "ACME")

    response = new_version(finance, **{"effective_from": today().isoformat(), "roles-0-hourly": "200.00",
                                       "roles-0-daily": "1600.00"})

    assert response.status_code == 302
    page = page_text(finance.get(response.location))
    assert "Version 2 of the USD rate card is in force from" in page
    assert "In force today: version 2" in page
    versions = page.split('id="versions"')[1].split("</table>")[0]
    # (version, quotes on it), newest first
    assert re.findall(r'<tr><td>(\d+)</td>.*?<td class="num">(\d+)</td>', versions, re.DOTALL) == [("2", "0"), ("1", "1")]
    kept = api.get(f"/quotes/{before['number']}").get_json()
    assert (kept["lines"][0]["unit_price"], kept["total"]) == ("150.00", "1500.00")
    after = quote_ten_analyst_hours(api, "ACME")
    assert (after["lines"][0]["unit_price"], after["total"]) == ("200.00", "2000.00")
    assert api.get("/rate-card?currency=USD").get_json()["version"] == 2


def test_a_version_taking_effect_later_is_listed_as_scheduled(finance, rate_card, api):
    response = new_version(finance, effective_from="2099-01-01", incident_price="300.00")

    page = page_text(finance.get(response.location))
    assert "In force today: version 1" in page
    assert "scheduled" in page.split('id="versions"')[1]
    assert api.get("/rate-card?currency=USD").get_json()["incident_price"] == "200.00"


@pytest.mark.parametrize(("field", "value", "message", "beside"), [
    ("effective_from", "2020-01-01", "a USD rate card already takes effect on 2020-01-01", "effective_from"),
    ("effective_from", "", "This field is required.", "effective_from"),
    ("incident_price", "", "This field is required.", "incident_price"),
    ("overage_price", "-1", "Number must be at least 0.", "overage_price"),
    ("roles-0-hourly", "150.005", "USD amounts have at most 2 decimals.", "roles-0-hourly"),
    ("roles-1-daily", "", "Required for a role.", "roles-1-daily"),
    ("roles-1-code", "Bad Code", "Lower-case letters, digits and '_'.", "roles-1-code"),
    ("roles-1-code", "analyst", "Each role code appears once.", None),
    ("discounts-0-percent", "100", "A percent between 0 and 100.", "discounts-0-percent"),
    ("currency", "XYZ", "'XYZ' is not an ISO 4217 currency code.", "currency"),
])
def test_a_refused_rate_card_shows_the_error_beside_its_field_and_creates_no_version(
        api, finance, rate_card, field, value, message, beside):
    response = new_version(finance, **{"effective_from": "2030-01-01", field: value})

    assert response.status_code == 422
    page = page_text(response)
    where = page.split(f'id="{beside}-error"')[1].split("</p>")[0] if beside else page
    assert message in where
    assert api.get("/rate-card?currency=USD&on=2031-01-01").get_json()["version"] == 1


# --- the export -----------------------------------------------------------------------------


def test_the_csv_export_has_a_row_per_line_of_each_invoice_and_credit_note(finance, march_invoice):
    credit(finance, march_invoice, "Bundle of 5 sold twice", [2])

    response = finance.get(f"/finance/export.csv?period={MARCH}")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="invoices-2026-03.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["number"], r["kind"], r["client"], r["quantity"], r["amount"], r["total"], r["refers_to"])
            for r in rows] == [
        (number("CN", 1), "credit_note", "ACME", "5", "-1000.00", "-1100.00", march_invoice),
        (march_invoice, "invoice", "ACME", "10", "2000.00", "3300.00", ""),
        (march_invoice, "invoice", "ACME", "5", "1000.00", "3300.00", ""),
    ]


def test_the_export_of_a_month_with_nothing_issued_is_just_the_header(finance):
    response = finance.get("/finance/export.csv?period=2026-01")

    assert response.get_data(as_text=True).splitlines() == [
        "number,kind,issue_date,due_date,client,client_name,client_tax_id,description,quantity,unit_price,"
        "amount,line_tax,tax,total,currency,refers_to"]


# --- who may ---------------------------------------------------------------------------------


def every_finance_page(invoice: str) -> list[tuple[str, str]]:
    return [
        ("GET", "/finance/invoices"), ("GET", f"/finance/invoices?period={MARCH}"),
        ("POST", "/finance/invoices/issue"), ("GET", f"/finance/invoices/{invoice}"),
        ("GET", f"/finance/invoices/{invoice}/pdf"), ("POST", f"/finance/invoices/{invoice}/credit-notes"),
        ("GET", "/finance/rate-card"), ("POST", "/finance/rate-card"),
        ("GET", f"/finance/export.csv?period={MARCH}"),
    ]


@pytest.mark.parametrize("role", ["account_manager", "client"])
def test_only_finance_and_admins_open_the_finance_pages(app, browser_as, march_invoice, role):
    browser = browser_as(role, "ACME" if role == "client" else None)

    statuses = {f"{method} {path}": (browser.get(path) if method == "GET" else browser.post(path)).status_code
                for method, path in every_finance_page(march_invoice)}

    assert statuses == {page: 403 for page in statuses}
    assert count_invoices(app) == 1


def test_an_admin_opens_the_finance_pages(browser_as, march_invoice):
    admin = browser_as("admin")

    statuses = {path: admin.get(path).status_code
                for method, path in every_finance_page(march_invoice) if method == "GET"}

    assert statuses == {page: 200 for page in statuses}


def test_signed_out_visitors_are_sent_to_sign_in(app):
    visitor = Browser(app)

    locations = {path: visitor.get(path).location
                 for method, path in every_finance_page("INV-2026-00001") if method == "GET"}

    assert all(location.startswith("/sign-in") for location in locations.values()), locations
