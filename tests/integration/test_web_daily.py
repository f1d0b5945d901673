"""The pages of daily work: clients created and edited, a client's running balance, the list of all
invoices and credit notes, sorting and paging, cases, the quote form's lines, role titles and plurals."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledger.demo import load_demo
from ledger.extensions import db
from ledger.models import Case, Client
from ledger.services import balances, quotes, support
from ledger.web import listing
from tests.helpers import once, page_text, row_counts, signed_in

TODAY = datetime.now(UTC).date()


def error_beside(page: str, field: str) -> str:
    """The error message shown beside ``field`` (empty when there is none)."""
    found = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return found.group(1) if found else ""


@pytest.fixture
def manager(app):
    return signed_in(app, "account_manager")


@pytest.fixture(autouse=True)
def plans(support_plans):
    """The seed support plans, as `ledger init` makes them."""


def post(browser, token: str, path: str, data: dict):
    return browser.post(path, data={**data, "csrf_token": token, "once": once(browser)})


def client_row(app, code: str) -> Client | None:
    with app.app_context():
        found = db.session.scalar(sa.select(Client).where(Client.code == code))
        if found is not None:
            db.session.expunge(found)
        return found


# --- creating and editing clients ---------------------------------------------------------------

NEW_CLIENT = {
    "code": "NEWCO", "name": "New <b>Co</b> & Sons", "currency": "EUR", "locale": "de_DE", "tax_rate": "19",
    "term_start": "2026-02-01", "maintenance_fee": "1200.00", "overage_policy": "block",
    "support_plan": "premier", "address": "Hauptstraße 1\n10115 Berlin", "country": "DE",
    "vat_id": "DE136695976", "billing_emails": "ap@newco.example\nboss@newco.example",
    "payment_terms_days": "14", "purchase_order": "PO-1", "reverse_charge": "y",
}


def test_an_account_manager_creates_a_client_with_every_field_the_api_takes(app, rate_card, manager):
    browser, token = manager

    response = post(browser, token, "/new-client", NEW_CLIENT)

    assert response.status_code == 302, page_text(response)
    assert response.location == "/clients/NEWCO"
    client = client_row(app, "NEWCO")
    assert (client.name, client.currency, client.locale, client.tax_rate, client.term_start) == (
        "New <b>Co</b> & Sons", "EUR", "de_DE", Decimal("19"), date(2026, 2, 1))
    assert (client.maintenance_fee_minor, client.overage_policy, client.address) == (
        120000, "block", "Hauptstraße 1\n10115 Berlin")
    assert (client.country, client.vat_id, client.billing_emails, client.payment_terms_days,
            client.purchase_order, client.reverse_charge) == (
        "DE", "DE136695976", ["ap@newco.example", "boss@newco.example"], 14, "PO-1", True)
    shown = browser.get("/clients/NEWCO").get_data(as_text=True)
    assert "New &lt;b&gt;Co&lt;/b&gt; &amp; Sons" in shown and "<b>Co</b>" not in shown
    assert 'id="support-plan">Workato Premier' in shown or "Premier" in shown


@pytest.mark.parametrize("changes, field, message", [
    ({"code": "bad code!"}, "code", "use 1–32 letters, digits, '-' or '_', starting with a letter or digit"),
    ({"code": "ALPHA"}, "code", "a client with code 'ALPHA' exists already"),
    ({"currency": "XYZ"}, "currency", "'XYZ' is not an ISO 4217 currency code"),
    ({"currency": "JPY"}, "currency", "there is no JPY rate card; create one before a client in JPY"),
    ({"locale": "xx_QQ"}, "locale", "'xx_QQ' is not a known locale (for example en_US, de_DE)"),
    ({"tax_rate": "101"}, "tax_rate", "Number must be between 0 and 100."),
    ({"tax_rate": ""}, "tax_rate", "Give the tax rate in percent, e.g. 8.25 (0 for none)."),
    ({"maintenance_fee": "10.001"}, "maintenance_fee", "EUR amounts have at most 2 decimals"),
    ({"name": ""}, "name", "Give the client's name."),
    ({"country": "ZZ"}, "country", ""),
    ({"billing_emails": "not-an-email"}, "billing_emails", ""),
    ({"support_plan": "gold"}, "support_plan", "Not a valid choice."),
    ({"term_start": "2026-02-30"}, "term_start", "Not a valid date value."),
])
def test_a_client_with_a_wrong_field_is_refused_beside_that_field_and_nothing_is_saved(
        app, rate_card, alpha, manager, changes, field, message):
    browser, token = manager
    before = row_counts(app)

    response = post(browser, token, "/new-client", {**NEW_CLIENT, **changes})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert error_beside(page, field), f"no error beside {field}: {page_text(response)[:2000]}"
    assert message in error_beside(page, field).replace("&#39;", "'")
    assert row_counts(app) == before
    assert 'value="New &lt;b&gt;Co&lt;/b&gt; &amp; Sons"' in page or field == "name"  # the input is kept


def test_editing_a_client_changes_its_details_but_never_its_code(app, rate_card, alpha, manager):
    browser, token = manager
    form = browser.get("/clients/ALPHA/edit").get_data(as_text=True)

    response = post(browser, token, "/clients/ALPHA/edit", {
        "code": "OTHER", "name": "Alpha & Omega", "locale": "fr_CA", "tax_rate": "14.975",
        "maintenance_fee": "99.50", "overage_policy": "block", "support_plan": "professional", "address": "1 rue"})

    assert 'name="code"' not in form and 'value="Alpha Ltd"' in form
    assert response.status_code == 302 and response.location == "/clients/ALPHA"
    client = client_row(app, "ALPHA")
    assert client_row(app, "OTHER") is None
    assert (client.name, client.locale, client.tax_rate, client.maintenance_fee_minor, client.overage_policy) == (
        "Alpha & Omega", "fr_CA", Decimal("14.975"), 9950, "block")


def test_an_edit_with_a_wrong_locale_is_refused_beside_it(app, rate_card, alpha, manager):
    browser, token = manager
    before = row_counts(app)

    response = post(browser, token, "/clients/ALPHA/edit", {
        "name": "Alpha", "locale": "nope", "tax_rate": "10", "maintenance_fee": "0", "overage_policy": "bill",
        "support_plan": "standard"})

    assert response.status_code == 422
    assert error_beside(response.get_data(as_text=True), "locale") == "&#39;nope&#39; is not a known locale (for example en_US, de_DE)"
    assert row_counts(app) == before and client_row(app, "ALPHA").name == "Alpha Ltd"


# --- the running-balance history ------------------------------------------------------------------


def history_rows(page: str) -> list[tuple[str, str]]:
    """(kind, balance) of each row of the history table, the opening and closing rows included."""
    body = page.split('<table id="history">')[1].split("</table>")[0]
    rows = re.findall(r'<tr class="([^"]+)">(.*?)</tr>', body, re.S)
    return [(kind.removeprefix("kind-"), re.findall(r'<td class="num"[^>]*>(?:<strong>)?([^<]*)', cells)[-1])
            for kind, cells in rows]


@pytest.fixture
def waived(app, alpha) -> dict:
    """ALPHA's seeded charge (2 incidents of 10, January), then a second one waived in February."""
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.number == alpha["case"]))
        activity = support.log_appointment(db.session, case, datetime(2026, 2, 3, 10, tzinfo=UTC),
                                           datetime(2026, 2, 3, 10, 30, tzinfo=UTC), "Tess Tech")
        support.waive(db.session, activity, "our outage")
        db.session.commit()
    return alpha


def test_the_history_shows_each_movement_with_the_balance_after_it(app, waived, manager):
    browser, _ = manager

    page = browser.get("/clients/ALPHA/history?start=2026-01-01&end=2026-03-31").get_data(as_text=True)

    assert history_rows(page) == [("opening", "0"), ("purchase", "10"), ("charge", "8"), ("charge", "6"),
                                  ("reversal", "8"), ("closing", "8")]
    assert "our outage" in page
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "ALPHA"))
        assert balances.balance(db.session, client, date(2026, 3, 31)).available == 8


def test_the_history_filters_by_date_range_and_kind(app, waived, manager):
    browser, _ = manager

    february = browser.get("/clients/ALPHA/history?start=2026-02-01&end=2026-02-28").get_data(as_text=True)
    charges = browser.get("/clients/ALPHA/history?start=2026-01-01&end=2026-03-31&kind=charge&kind=reversal")

    assert history_rows(february) == [("opening", "8"), ("charge", "6"), ("reversal", "8"), ("closing", "8")]
    assert history_rows(charges.get_data(as_text=True)) == [
        ("opening", "0"), ("charge", "8"), ("charge", "6"), ("reversal", "8"), ("closing", "8")]


@pytest.mark.parametrize("query, field, message", [
    ("start=2026-13-01", "start", "Not a valid date value."),
    ("start=2026-03-01&end=2026-01-01", "end", "The end is before the start."),
    ("kind=bogus", "kind", "'bogus' is not a valid choice for this field."),
    ("start=" + "9" * 10_000, "start", "Not a valid date value."),
])
def test_a_wrong_history_filter_is_named_beside_its_field(app, waived, manager, query, field, message):
    browser, _ = manager

    response = browser.get(f"/clients/ALPHA/history?{query}")

    assert response.status_code == 400
    assert message in re.sub(r"&#3?9;", "'", page_text(response)), page_text(response)[:1500]
    assert f'id="{field}-error"' in response.get_data(as_text=True)


def test_the_csv_has_the_pages_rows_and_ends_on_the_balance(app, waived, manager):
    browser, _ = manager

    response = browser.get("/clients/ALPHA/history.csv?start=2026-01-01&end=2026-03-31")

    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert response.mimetype == "text/csv"
    assert rows[0] == ["date", "kind", "what", "case", "incidents", "balance"]
    assert [(row[1], row[4], row[5]) for row in rows[1:]] == [
        ("opening", "", "0"), ("purchase", "10", "10"), ("charge", "-2", "8"), ("charge", "-2", "6"),
        ("reversal", "2", "8"), ("closing", "", "8")]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row[2:4])


def test_a_client_user_sees_only_its_own_history(app, waived, beta):
    browser, _ = signed_in(app, "client", client="ALPHA")

    page = browser.get("/portal/history?start=2026-01-01&end=2026-03-31")
    exported = browser.get("/portal/history.csv?start=2026-01-01&end=2026-03-31").get_data(as_text=True)

    assert history_rows(page.get_data(as_text=True))[-1] == ("closing", "8")
    assert beta["case"] not in page.get_data(as_text=True) and beta["case"] not in exported
    assert browser.get("/clients/BETA/history").status_code == 403


@pytest.mark.slow
def test_nords_demo_history_shows_its_rollover_and_expiry_and_closes_on_its_balance(app):
    with app.app_context():
        load_demo(db.session, TODAY)
        db.session.commit()
        nord = db.session.scalar(sa.select(Client).where(Client.code == "NORD"))
        available = balances.balance(db.session, nord, TODAY).available
    browser, _ = signed_in(app, "account_manager")

    rows = history_rows(browser.get("/clients/NORD/history").get_data(as_text=True))
    portal = browser.get("/clients/NORD/history.csv").get_data(as_text=True)

    kinds = [kind for kind, _ in rows]
    assert "rollover_in" in kinds and "rollover_out" in kinds and "expiry" in kinds
    assert rows[-1] == ("closing", str(available))
    assert list(csv.reader(io.StringIO(portal)))[-1][-1] == str(available)


# --- all invoices and credit notes ----------------------------------------------------------------


@pytest.fixture
def finance(app):
    return signed_in(app, "finance")


def numbers_listed(page: str) -> list[str]:
    body = page.split('<table id="documents">')[1]
    return re.findall(r'<td class="nowrap"><a href="/finance/invoices/([^"]+)">', body)


def test_finance_finds_a_document_by_number_or_client(app, alpha, beta, finance):
    browser, _ = finance

    everything = numbers_listed(browser.get("/finance/documents").get_data(as_text=True))
    by_number = numbers_listed(browser.get(f"/finance/documents?q={alpha['invoice']}").get_data(as_text=True))
    by_code = numbers_listed(browser.get("/finance/documents?q=bet").get_data(as_text=True))
    by_name = numbers_listed(browser.get("/finance/documents?q=alpha+ltd").get_data(as_text=True))

    assert sorted(everything) == sorted([alpha["invoice"], beta["invoice"]])
    assert by_number == [alpha["invoice"]] and by_code == [beta["invoice"]] and by_name == [alpha["invoice"]]


def test_finance_filters_documents_by_period_and_status(app, alpha, beta, finance):
    browser, _ = finance

    january = numbers_listed(browser.get("/finance/documents?period=2026-01").get_data(as_text=True))
    february = numbers_listed(browser.get("/finance/documents?period=2026-02").get_data(as_text=True))
    overdue = numbers_listed(browser.get("/finance/documents?status=overdue").get_data(as_text=True))
    paid = numbers_listed(browser.get("/finance/documents?status=paid").get_data(as_text=True))

    assert len(january) == 2 and february == []
    assert sorted(overdue) == sorted([alpha["invoice"], beta["invoice"]])  # due in February 2026, unpaid
    assert paid == []


def test_clicking_a_column_header_sorts_the_documents(app, alpha, beta, finance):
    browser, _ = finance

    page = browser.get("/finance/documents?sort=client").get_data(as_text=True)
    reverse = browser.get("/finance/documents?sort=-client").get_data(as_text=True)

    assert numbers_listed(page) == [alpha["invoice"], beta["invoice"]]
    assert numbers_listed(reverse) == [beta["invoice"], alpha["invoice"]]
    assert 'aria-sort="ascending"><a href="/finance/documents?sort=-client">' in page


@pytest.mark.parametrize("query, status, shown", [
    ("sort=total;DROP TABLE invoices", 200, "2 documents"),
    ("page=-1", 200, "pages are numbered from 1. Here is the first."),
    ("page=0", 200, "pages are numbered from 1. Here is the first."),
    ("page=abc", 200, "There is no page “abc”"),
    ("page=1000000000", 200, "There is no page 1000000000: the list has 1. Here is the last."),
    ("q=" + "x" * 10_000, 200, "The search was cut to its first 100 characters."),
    ("q=<script>alert(1)</script>", 200, "No invoice or credit note matches."),
    ("q=%25", 200, "No invoice or credit note matches."),
    ("period=2026-13", 400, "period"),
    ("status=lost", 400, "Choose one of the statuses offered."),
])
def test_bad_list_parameters_get_a_clear_answer_never_a_500(app, alpha, beta, finance, query, status, shown):
    browser, _ = finance

    response = browser.get(f"/finance/documents?{query}")

    assert response.status_code == status
    assert shown in page_text(response).replace("&#8220;", "“").replace("&#8221;", "”"), page_text(response)[:1500]
    assert "<script>alert" not in response.get_data(as_text=True)


# --- sorting and paging on every long list --------------------------------------------------------


def test_the_clients_list_pages_and_sorts(app, rate_card, make_client, manager, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    for code in ("CA", "CB", "CC", "CD", "CE"):
        make_client(code, name=f"Client {code}")
    browser, _ = manager

    first = browser.get("/clients").get_data(as_text=True)
    last = browser.get("/clients?page=3").get_data(as_text=True)
    backwards = browser.get("/clients?sort=-name").get_data(as_text=True)
    beyond = browser.get("/clients?page=99")

    codes = lambda page: re.findall(r'<a href="/clients/(C[A-E])">', page)  # noqa: E731
    assert codes(first) == ["CA", "CB"] and codes(last) == ["CE"] and codes(backwards) == ["CE", "CD"]
    assert "5 clients" in page_text(browser.get("/clients")) and "Page 1 of 3" in first
    assert beyond.status_code == 200 and codes(beyond.get_data(as_text=True)) == ["CE"]
    assert "1 client" in page_text(browser.get("/clients?q=CA")) and "1 clients" not in page_text(
        browser.get("/clients?q=CA"))


@pytest.mark.parametrize("role, path", [
    ("account_manager", "/clients"), ("account_manager", "/cases"), ("finance", "/finance/outbox/"),
    ("finance", "/finance/documents"), ("client", "/portal/cases"), ("client", "/portal/quotes"),
    ("client", "/portal/invoices"),
])
def test_every_long_list_takes_any_page_and_sort_without_failing(app, alpha, role, path):
    browser, _ = signed_in(app, role, client="ALPHA")
    answers = {}

    for query in ("page=-1", "page=abc", "page=1000000000", "sort=nope", "sort=-", "q=<b>x"):
        response = browser.get(f"{path}?{query}")
        answers[query] = (response.status_code, "<b>x" in response.get_data(as_text=True))

    assert set(answers.values()) == {(200, False)}, answers


# --- cases ----------------------------------------------------------------------------------------


def test_a_client_user_opens_its_own_cases_from_the_list_and_not_anothers(app, alpha, beta):
    browser, _ = signed_in(app, "client", client="ALPHA")

    listed = browser.get("/portal/cases").get_data(as_text=True)
    own = browser.get(f"/portal/cases/{alpha['case']}")
    other = browser.get(f"/portal/cases/{beta['case']}")

    assert f'href="/portal/cases/{alpha["case"]}"' in listed
    assert own.status_code == 200 and "Alpha&#39;s outage" in own.get_data(as_text=True)
    assert other.status_code == 404 and beta["case"] not in other.get_data(as_text=True)


def test_an_account_manager_moves_a_case_along_its_lifecycle_and_an_impossible_move_is_refused(app, alpha, manager):
    browser, token = manager

    started = post(browser, token, f"/cases/{alpha['case']}/status", {"status": "in_progress"})
    refused = post(browser, token, f"/cases/{alpha['case']}/status", {"status": "closed"})

    assert started.status_code == 302
    assert refused.status_code in (409, 422)
    assert "a case that is in progress cannot become closed" in page_text(refused)
    with app.app_context():
        assert db.session.scalar(sa.select(Case.status).where(Case.number == alpha["case"])) == "in_progress"


# --- the quote form's lines -----------------------------------------------------------------------


def line_values(page: str) -> list[tuple[str, str]]:
    roles = re.findall(r'<select id="lines-(\d+)-role"[^>]*>.*?<option selected value="([^"]*)"', page, re.S)
    quantities = dict(re.findall(r'id="lines-(\d+)-quantity"[^>]*value="([^"]*)"', page))
    return [(role, quantities.get(index, "")) for index, role in roles]


def test_add_line_and_remove_show_the_form_again_with_the_typed_lines_and_save_nothing(app, acme, manager):
    browser, token = manager
    before = row_counts(app)
    typed = {"lines-0-role": "analyst", "lines-0-unit": "hour", "lines-0-quantity": "10",
             "valid_until": (TODAY + timedelta(days=30)).isoformat()}

    added = post(browser, token, "/clients/ACME/quotes/new", {**typed, "action": "add-line"})
    two = {**typed, "lines-1-role": "developer", "lines-1-unit": "day", "lines-1-quantity": "2"}
    removed = post(browser, token, "/clients/ACME/quotes/new", {**two, "action": "remove-0"})

    assert added.status_code == 200 and line_values(added.get_data(as_text=True)) == [("analyst", "10.00"), ("", "")]
    assert line_values(removed.get_data(as_text=True)) == [("developer", "2.00")]
    assert "<script" not in added.get_data(as_text=True)
    assert "script-src 'self'" in added.headers["Content-Security-Policy"]
    assert row_counts(app) == before


def test_a_fresh_quote_form_has_one_line_and_an_add_line_button(app, acme, manager):
    browser, _ = manager

    page = browser.get("/clients/ACME/quotes/new").get_data(as_text=True)

    assert len(line_values(page)) == 1
    assert 'name="action" value="add-line"' in page and 'value="remove-0"' not in page


# --- role titles and plurals ----------------------------------------------------------------------


def test_pages_show_role_titles_never_codes(app, acme):
    admin, _ = signed_in(app, "admin")
    signed_in(app, "account_manager")
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "ACME"))
        from ledger import billing

        quote = quotes.create_quote(db.session, client, [billing.QuoteLineRequest("analyst", "hour", Decimal(1))],
                                    TODAY + timedelta(days=30), TODAY)
        quotes.send_quote(db.session, quote, TODAY)
        quotes.accept_quote(db.session, quote, TODAY)
        db.session.commit()
        number = quote.number

    users = page_text(admin.get("/admin/users"))
    client_page = page_text(admin.get("/clients/ACME"))
    quote_page = page_text(admin.get(f"/quotes/{number}"))

    assert "Account manager" in users and "Administrator" in users and "<td>account_manager</td>" not in users
    assert "Project Coordinator / Business Analyst" in client_page
    assert "1 hour" in quote_page and "1 hours" not in quote_page


def test_the_support_plans_page_counts_clients_in_words(app, alpha):
    browser, _ = signed_in(app, "finance")

    page = page_text(browser.get("/finance/support-plans"))

    assert "(s)" not in page
    assert "1 client" in page and "0 clients" in page

