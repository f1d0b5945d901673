"""Invoices through the JSON API: runs, reading, credit notes, the CSV export, and who may do what.

API.md: finance runs months, reads everything, issues credit notes and exports; a client
user reads its own invoices (PDFs too) and gets 404 for another client's; an account
manager gets 403. The API issues with today's date, so numbers carry this year.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.extensions import db
from ledger.money import Money
from ledger.services.bundles import buy_bundle
from tests.helpers import built_once, client_named, cn, inv, staff_api
from tests.helpers import today_utc as today

MARCH = "2026-03"


@pytest.fixture
def finance(finance_api):
    return finance_api


@built_once(after=("three_clients",))
def march(app, after) -> None:
    """March run by finance: ALPHA (two bundles) is INV-…-00001, BETA (one) -00002, GAMMA skipped.

    ALPHA: 10 × 200.00 + 5 × 90.00 = 2,450.00, tax 10 % 245.00, total 2,695.00.
    """
    with app.app_context():
        session = db.session
        alpha = client_named(session, "ALPHA")
        buy_bundle(session, alpha, 10, date(2026, 3, 2))
        buy_bundle(session, alpha, 5, date(2026, 3, 20), unit_price=Money(Decimal(90), "USD"))
        buy_bundle(session, client_named(session, "BETA"), 3, date(2026, 3, 5))
        session.commit()
    run = staff_api(app, "finance").post("/invoices/run", {"period": MARCH})
    assert run.status_code == 200, run.get_json()
    assert run.get_json() == {"issued": [inv(1), inv(2)], "skipped": ["GAMMA"], "failed": []}


ALPHA_LINES = [
    {"position": 1, "kind": "bundle", "description": "Service & Support Incidents: bundle of 10, purchased "
     "2026-03-02", "quantity": "10", "unit_price": "200.00", "amount": "2000.00"},
    {"position": 2, "kind": "bundle", "description": "Service & Support Incidents: bundle of 5, purchased "
     "2026-03-20", "quantity": "5", "unit_price": "90.00", "amount": "450.00"},
]


# --- running a month --------------------------------------------------------------------


def test_running_the_month_again_issues_nothing_new(march, finance):
    again = finance.post("/invoices/run", {"period": MARCH})

    assert again.status_code == 200
    assert again.get_json() == {"issued": [], "skipped": ["ALPHA", "BETA", "GAMMA"], "failed": []}
    assert [i["number"] for i in finance.get("/clients/ALPHA/invoices").get_json()["items"]] == [inv(1)]


def next_month(day: date) -> str:
    following = day.replace(day=1) + timedelta(days=32)
    return f"{following.year}-{following.month:02d}"


@pytest.mark.parametrize("body", [
    {}, {"period": ""}, {"period": "2026-13"}, {"period": "2026-3"}, {"period": "03/2026"},
    {"period": 202603}, {"period": next_month(today())},  # a month that has not begun
], ids=["missing", "blank", "month 13", "one digit", "other format", "a number", "next month"])
def test_a_run_for_a_malformed_or_future_month_is_refused_with_field_period(finance, body):
    response = finance.post("/invoices/run", body)

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "period"
    assert finance.get("/clients/ALPHA/invoices").get_json()["items"] == []


# --- reading -----------------------------------------------------------------------------


def test_an_invoice_reads_with_lines_totals_due_date_and_the_hash_of_its_pdf_archived_by_the_run(march, finance):
    response = finance.get(f"/invoices/{inv(1)}")

    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "number": inv(1), "kind": "invoice", "client": "ALPHA", "period": MARCH,
        "issued_on": today().isoformat(), "due_on": (today() + timedelta(days=30)).isoformat(),
        "currency": "USD", "tax_rate": "10", "lines": ALPHA_LINES,
        "subtotal": "2450.00", "tax": "245.00", "total": "2695.00", "sha256": body["sha256"],
        "taxes": [{"name": "Tax", "rate": "10", "amount": "245.00"}],
        "status": "open", "amount_paid": "0.00", "amount_due": "2695.00",
    }
    pdf = finance.get(f"/invoices/{inv(1)}/pdf")
    assert body["sha256"] == hashlib.sha256(pdf.data).hexdigest()
    assert finance.get(f"/invoices/{inv(1)}").get_json() == body  # an issued invoice never changes


def test_a_clients_list_holds_its_invoices_and_credit_notes_of_the_period(march, finance):
    credit = finance.post(f"/invoices/{inv(1)}/credit-notes", {"reason": "price agreed lower", "lines": [2]})
    assert credit.status_code == 201

    listed = finance.get(f"/clients/ALPHA/invoices?period={MARCH}")
    april = finance.get("/clients/ALPHA/invoices?period=2026-04")

    assert listed.status_code == 200
    due_on = (today() + timedelta(days=30)).isoformat()
    assert listed.get_json() == {"items": [
        {"number": inv(1), "kind": "invoice", "client": "ALPHA", "period": MARCH,
         "issued_on": today().isoformat(), "due_on": due_on, "total": "2695.00", "currency": "USD",
         "status": "open", "amount_paid": "0.00", "amount_due": "2200.00"},
        {"number": cn(1), "kind": "credit_note", "client": "ALPHA", "period": MARCH,
         "issued_on": today().isoformat(), "due_on": due_on, "total": "-495.00", "currency": "USD",
         "status": "credited", "amount_paid": "0.00", "amount_due": "0.00"},
    ], "next": None}
    assert april.get_json() == {"items": [], "next": None}


def test_a_clients_list_comes_in_pages(march, finance):
    assert finance.post(f"/invoices/{inv(1)}/credit-notes", {"reason": "cancelled"}).status_code == 201

    first = finance.get("/clients/ALPHA/invoices?limit=1").get_json()
    second = finance.get(f"/clients/ALPHA/invoices?limit=1&cursor={first['next']}").get_json()

    assert [i["number"] for i in first["items"]] == [inv(1)]
    assert [i["number"] for i in second["items"]] == [cn(1)]


@pytest.mark.parametrize("period", ["2026-3", "March", "2026-00", ""])
def test_a_malformed_period_filter_is_422_with_field_period(march, finance, period):
    response = finance.get(f"/clients/ALPHA/invoices?period={period}")

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "period"


# --- who may do what ---------------------------------------------------------------------

CREDIT = {"reason": "goodwill"}
#: (role, method, path, status); ALPHA's invoice is {invoice}; "client" is a user of ALPHA
ACCESS = [
    ("finance", "POST", "/invoices/run", 200),
    ("admin", "POST", "/invoices/run", 200),
    ("account_manager", "POST", "/invoices/run", 403),
    ("client", "POST", "/invoices/run", 403),
    ("finance", "GET", "/clients/ALPHA/invoices", 200),
    ("client", "GET", "/clients/ALPHA/invoices", 200),
    ("other_client", "GET", "/clients/ALPHA/invoices", 404),
    ("account_manager", "GET", "/clients/ALPHA/invoices", 403),
    ("finance", "GET", "/invoices/{invoice}", 200),
    ("admin", "GET", "/invoices/{invoice}", 200),
    ("client", "GET", "/invoices/{invoice}", 200),
    ("other_client", "GET", "/invoices/{invoice}", 404),
    ("account_manager", "GET", "/invoices/{invoice}", 403),
    ("client", "GET", "/invoices/{invoice}/pdf", 200),
    ("other_client", "GET", "/invoices/{invoice}/pdf", 404),
    ("account_manager", "GET", "/invoices/{invoice}/pdf", 403),
    ("finance", "POST", "/invoices/{invoice}/credit-notes", 201),
    ("admin", "POST", "/invoices/{invoice}/credit-notes", 201),
    ("client", "POST", "/invoices/{invoice}/credit-notes", 403),
    ("other_client", "POST", "/invoices/{invoice}/credit-notes", 404),
    ("account_manager", "POST", "/invoices/{invoice}/credit-notes", 403),
    ("finance", "GET", f"/invoices/export?period={MARCH}", 200),
    ("admin", "GET", f"/invoices/export?period={MARCH}", 200),
    ("account_manager", "GET", f"/invoices/export?period={MARCH}", 403),
    ("client", "GET", f"/invoices/export?period={MARCH}", 403),
]
ERROR_CODES = {403: "forbidden", 404: "not_found"}


@pytest.mark.parametrize(("role", "method", "path", "status"), ACCESS,
                         ids=[f"{r} {m} {p}" for r, m, p, _ in ACCESS])
def test_each_role_may_do_only_what_api_md_gives_it(as_role, march, finance, role, method, path, status):
    user = as_role(role)
    url = path.format(invoice=inv(1))
    documents_before = finance.get("/clients/ALPHA/invoices").get_json()["items"]

    response = user.get(url) if method == "GET" else user.post(
        url, CREDIT if "credit" in url else {"period": MARCH})

    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status >= 400:
        assert response.get_json()["error"]["code"] == ERROR_CODES[status]
        assert finance.get("/clients/ALPHA/invoices").get_json()["items"] == documents_before


@pytest.mark.parametrize(("method", "path"), sorted({(m, p) for _, m, p, _ in ACCESS}))
def test_every_invoice_route_needs_a_bearer_token(api, method, path):
    anonymous = api.as_("")
    url = path.format(invoice=inv(1))

    response = anonymous.get(url) if method == "GET" else anonymous.post(url, CREDIT)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_client_user_sees_only_its_own_invoices_and_their_pdfs(as_role, march):
    portal = as_role("client")

    listed = portal.get("/clients/ALPHA/invoices").get_json()["items"]
    own = portal.get(f"/invoices/{inv(1)}")
    pdf = portal.get(f"/invoices/{inv(1)}/pdf")

    assert [i["number"] for i in listed] == [inv(1)]
    assert own.get_json()["client"] == "ALPHA"
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert f"{inv(1)}.pdf" in pdf.headers["Content-Disposition"]
    for path in (f"/invoices/{inv(2)}", f"/invoices/{inv(2)}/pdf", "/clients/BETA/invoices"):
        refused = portal.get(path)
        assert refused.status_code == 404, path
        assert "660.00" not in refused.get_data(as_text=True)  # BETA's total


# --- credit notes ------------------------------------------------------------------------


def test_crediting_a_whole_invoice_cancels_it_to_the_cent_in_its_own_series(march, finance):
    response = finance.post(f"/invoices/{inv(1)}/credit-notes", {"reason": "  billed to the wrong client "})

    assert response.status_code == 201
    note = response.get_json()
    assert {k: note[k] for k in ("number", "kind", "client", "period", "refers_to", "reason", "currency")} == {
        "number": cn(1), "kind": "credit_note", "client": "ALPHA", "period": MARCH, "refers_to": inv(1),
        "reason": "billed to the wrong client", "currency": "USD"}
    assert [(line["description"], line["quantity"], line["unit_price"], line["amount"])
            for line in note["lines"]] == [
        ("Credit: Service & Support Incidents: bundle of 10, purchased 2026-03-02", "10", "-200.00", "-2000.00"),
        ("Credit: Service & Support Incidents: bundle of 5, purchased 2026-03-20", "5", "-90.00", "-450.00"),
    ]
    assert (note["subtotal"], note["tax"], note["total"]) == ("-2450.00", "-245.00", "-2695.00")
    assert finance.get(f"/invoices/{cn(1)}").get_json() == note
    assert finance.get(f"/invoices/{inv(1)}").get_json()["total"] == "2695.00"  # unchanged


def test_chosen_lines_are_credited_once_each_and_the_whole_invoice_means_what_is_left(march, finance):
    def credit(body):
        return finance.post(f"/invoices/{inv(1)}/credit-notes", body)

    second_line = credit({"reason": "discount agreed", "lines": [2]})
    again = credit({"reason": "discount agreed twice", "lines": [2]})
    rest = credit({"reason": "everything else"})
    first_line = credit({"reason": "cancelled", "lines": [1]})
    nothing_left = credit({"reason": "once more"})

    assert second_line.status_code == 201
    assert second_line.get_json()["number"] == cn(1)
    assert [line["amount"] for line in second_line.get_json()["lines"]] == ["-450.00"]
    assert (second_line.get_json()["tax"], second_line.get_json()["total"]) == ("-45.00", "-495.00")
    assert rest.status_code == 201
    assert rest.get_json()["number"] == cn(2)
    assert [line["amount"] for line in rest.get_json()["lines"]] == ["-2000.00"]
    assert (rest.get_json()["tax"], rest.get_json()["total"]) == ("-200.00", "-2200.00")
    for refused in (again, first_line, nothing_left):
        assert refused.status_code == 409
        assert refused.get_json()["error"] == {"code": "conflict", "field": "lines",
                                               "message": refused.get_json()["error"]["message"]}
    assert [i["number"] for i in finance.get("/clients/ALPHA/invoices").get_json()["items"]] == [
        inv(1), cn(1), cn(2)]


@pytest.mark.parametrize(("body", "field"), [
    ({}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"reason": None}, "reason"),
    ({"reason": 42}, "reason"),
    ({"reason": "x", "lines": [3]}, "lines"),
    ({"reason": "x", "lines": [1, 1]}, "lines"),
    ({"reason": "x", "lines": []}, "lines"),
    ({"reason": "x", "lines": ["1"]}, "lines"),
    ({"reason": "x", "lines": [0]}, "lines"),
    ({"reason": "x", "amount": "10.00"}, "amount"),
], ids=["no reason", "blank reason", "null reason", "numeric reason", "no such line", "a line twice",
        "no lines", "a string position", "position 0", "an unknown field"])
def test_a_credit_note_request_without_a_reason_or_with_bad_lines_is_422_and_posts_nothing(
    march, finance, body, field
):
    response = finance.post(f"/invoices/{inv(1)}/credit-notes", body)

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert [i["kind"] for i in finance.get("/clients/ALPHA/invoices").get_json()["items"]] == ["invoice"]


def test_a_credit_note_cannot_itself_be_credited(march, finance):
    assert finance.post(f"/invoices/{inv(1)}/credit-notes", {"reason": "cancelled"}).status_code == 201

    response = finance.post(f"/invoices/{cn(1)}/credit-notes", {"reason": "cancel the cancellation"})

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert len(finance.get("/clients/ALPHA/invoices").get_json()["items"]) == 2


def test_an_unknown_invoice_number_is_404(march, finance):
    for response in (finance.get("/invoices/INV-1999-00001"), finance.get("/invoices/INV-1999-00001/pdf"),
                     finance.post("/invoices/INV-1999-00001/credit-notes", CREDIT)):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_credit_notes_do_not_take_numbers_from_the_invoice_series(march, finance, session):
    assert finance.post(f"/invoices/{inv(2)}/credit-notes", {"reason": "cancelled"}).status_code == 201
    buy_bundle(session, client_named(session, "GAMMA"), 1, date(2026, 4, 2))
    session.commit()

    april = finance.post("/invoices/run", {"period": "2026-04"})

    assert april.get_json()["issued"] == [inv(3)]


def test_a_repeated_credit_note_request_with_the_same_idempotency_key_posts_once(march, finance):
    headers = {"Idempotency-Key": "credit-alpha-1"}
    body = {"reason": "cancelled", "lines": [1]}

    first = finance.post(f"/invoices/{inv(1)}/credit-notes", body, headers=headers)
    repeat = finance.post(f"/invoices/{inv(1)}/credit-notes", body, headers=headers)
    other = finance.post(f"/invoices/{inv(1)}/credit-notes", {**body, "lines": [2]}, headers=headers)

    assert first.status_code == repeat.status_code == 201
    assert repeat.get_json() == first.get_json()
    assert repeat.headers.get("Idempotent-Replayed") == "true"
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "idempotency_conflict"
    assert [i["number"] for i in finance.get("/clients/ALPHA/invoices").get_json()["items"]] == [inv(1), cn(1)]


# --- the accounting export ---------------------------------------------------------------

#: the columns the accounting system reads (API.md allows more)
EXPORT_COLUMNS = ["number", "issue_date", "client", "description", "quantity", "unit_price", "amount",
                  "tax", "total", "currency"]


def test_the_export_has_a_row_per_line_of_every_invoice_and_credit_note_of_the_month(march, finance):
    assert finance.post(f"/invoices/{inv(1)}/credit-notes", {"reason": "cancelled", "lines": [2]}).status_code == 201

    response = finance.get(f"/invoices/export?period={MARCH}")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f'filename="invoices-{MARCH}.csv"' in response.headers["Content-Disposition"]
    reader = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    assert set(EXPORT_COLUMNS) <= set(reader.fieldnames)
    day = today().isoformat()
    rows = [[row[column] for column in EXPORT_COLUMNS] + [row.get("refers_to", "")] for row in reader]
    assert rows == [
        [cn(1), day, "ALPHA", "Credit: Service & Support Incidents: bundle of 5, purchased 2026-03-20", "5",
         "-90.00", "-450.00", "-45.00", "-495.00", "USD", inv(1)],
        [inv(1), day, "ALPHA", "Service & Support Incidents: bundle of 10, purchased 2026-03-02", "10",
         "200.00", "2000.00", "245.00", "2695.00", "USD", ""],
        [inv(1), day, "ALPHA", "Service & Support Incidents: bundle of 5, purchased 2026-03-20", "5",
         "90.00", "450.00", "245.00", "2695.00", "USD", ""],
        [inv(2), day, "BETA", "Service & Support Incidents: bundle of 3, purchased 2026-03-05", "3",
         "200.00", "600.00", "60.00", "660.00", "USD", ""],
    ]


def test_the_export_of_a_month_without_invoices_is_just_the_header(march, finance):
    response = finance.get("/invoices/export?period=2026-02")

    lines = response.get_data(as_text=True).splitlines()
    assert response.status_code == 200
    assert len(lines) == 1 and set(EXPORT_COLUMNS) <= set(lines[0].split(","))


@pytest.mark.parametrize("query", ["", "?period=", "?period=2026-3", "?period=all"])
def test_the_export_needs_a_well_formed_period(march, finance, query):
    response = finance.get(f"/invoices/export{query}")

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "period"
