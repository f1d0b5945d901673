"""Payments through the JSON API: part and full payment, refusals, idempotency, derived status.

API.md: ``POST /invoices/{number}/payments`` → 201; more than the amount due → 422 (``amount``);
on a credit note → 409. Invoices gain ``status``, ``amount_paid`` and ``amount_due``; finance lists
invoices across clients by status. The API issues with today's date, so payments are dated today.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger import batch
from tests.helpers import built_once, cn, inv, post_created, staff_api
from tests.helpers import today_utc as today

MARCH = "2026-03"


@pytest.fixture
def finance(finance_api):
    return finance_api


@built_once(after=("three_clients",))
def invoice(app, after) -> str:
    """ALPHA's March invoice, issued today: a bundle of 10 at $200, tax 10 %: $2,200.00."""
    post_created(staff_api(app), "/clients/ALPHA/bundles", {"quantity": 10, "purchased_on": "2026-03-10"})
    assert staff_api(app, "finance").post("/invoices/run", {"period": MARCH}).get_json()["issued"] == [inv(1)]
    return inv(1)


def pay(finance, number: str, amount: str, paid_on: date | None = None, **extra):
    return finance.post(f"/invoices/{number}/payments",
                        {"amount": amount, "paid_on": (paid_on or today()).isoformat(), **extra})


def standing(finance, number: str) -> tuple[str, str, str]:
    body = finance.get(f"/invoices/{number}").get_json()
    return body["status"], body["amount_paid"], body["amount_due"]


def test_an_issued_invoice_is_open_with_its_total_due(finance, invoice):
    assert standing(finance, invoice) == ("open", "0.00", "2200.00")


def test_a_part_payment_leaves_the_invoice_partially_paid_with_the_rest_due(finance, invoice):
    response = pay(finance, invoice, "700.50", method="bank transfer", reference="ALPHA 4471")

    assert response.status_code == 201
    assert {k: v for k, v in response.get_json().items() if k != "id"} == {
        "invoice": invoice, "amount": "700.50", "currency": "USD", "paid_on": today().isoformat(),
        "method": "bank transfer", "reference": "ALPHA 4471"}
    assert standing(finance, invoice) == ("partially_paid", "700.50", "1499.50")


def test_paying_the_rest_makes_the_invoice_paid(finance, invoice):
    pay(finance, invoice, "700.50")
    assert pay(finance, invoice, "1499.50").status_code == 201

    assert standing(finance, invoice) == ("paid", "2200.00", "0.00")


def test_an_overpayment_is_refused_and_nothing_is_paid(finance, invoice):
    pay(finance, invoice, "2000.00")

    response = pay(finance, invoice, "200.01")

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "amount"
    assert "200.00" in response.get_json()["error"]["message"]
    assert standing(finance, invoice) == ("partially_paid", "2000.00", "200.00")


def test_the_same_idempotency_key_pays_once(finance, invoice):
    body = {"amount": "500.00", "paid_on": today().isoformat()}
    headers = {"Idempotency-Key": "pay-alpha-march"}

    first = finance.post(f"/invoices/{invoice}/payments", body, headers=headers)
    again = finance.post(f"/invoices/{invoice}/payments", body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert standing(finance, invoice) == ("partially_paid", "500.00", "1700.00")


def test_a_fully_credited_invoice_is_credited_with_nothing_due(finance, invoice):
    assert finance.post(f"/invoices/{invoice}/credit-notes", {"reason": "billed in error"}).status_code == 201

    assert standing(finance, invoice) == ("credited", "0.00", "0.00")
    assert pay(finance, invoice, "1.00").get_json()["error"]["field"] == "amount"


def test_a_partial_credit_note_reduces_what_is_due(finance, api, invoice):
    api.post("/clients/ALPHA/bundles", {"quantity": 5, "purchased_on": "2026-04-02"})
    assert finance.post("/invoices/run", {"period": "2026-04"}).get_json()["issued"] == [inv(2)]
    assert finance.post(f"/invoices/{invoice}/credit-notes", {"reason": "goodwill"}).status_code == 201

    assert standing(finance, inv(2)) == ("open", "0.00", "1100.00")
    assert standing(finance, cn(1)) == ("credited", "0.00", "0.00")


def test_an_unpaid_invoice_past_its_due_date_is_overdue(app, api, finance):
    api.post("/clients/ALPHA/bundles", {"quantity": 10, "purchased_on": "2026-03-10"})
    result = batch.run(app, MARCH, date(2026, 4, 1), workers=1)
    number = result.issued[0]

    body = finance.get(f"/invoices/{number}").get_json()

    assert body["due_on"] < today().isoformat()
    assert (body["status"], body["amount_due"]) == ("overdue", "2200.00")


@pytest.mark.parametrize(("amount", "paid_on", "field"), [
    ("0.00", 0, "amount"),
    ("0", 0, "amount"),
    ("-5.00", 0, "amount"),
    ("10.005", 0, "amount"),
    ("ten", 0, "amount"),
    ("10.00", 1, "paid_on"),
    ("10.00", -1, "paid_on"),
])
def test_a_bad_payment_is_refused_naming_the_field_and_nothing_is_posted(finance, invoice, amount, paid_on, field):
    # the invoice was issued today: a day later is the future, a day earlier before the invoice
    response = pay(finance, invoice, amount, today() + timedelta(days=paid_on))

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert standing(finance, invoice) == ("open", "0.00", "2200.00")
    assert finance.get(f"/invoices/{invoice}/payments").get_json()["items"] == []


def test_a_payment_on_a_credit_note_is_a_conflict(finance, invoice):
    finance.post(f"/invoices/{invoice}/credit-notes", {"reason": "billed in error", "lines": [1]})

    response = pay(finance, cn(1), "10.00")

    assert response.status_code == 409
    assert finance.get(f"/invoices/{cn(1)}/payments").get_json()["items"] == []


def test_only_finance_records_payments_and_a_client_sees_its_own_standing(as_role, finance, invoice):
    assert pay(as_role("account_manager"), invoice, "10.00").status_code == 403
    assert pay(as_role("client"), invoice, "10.00").status_code == 403
    pay(finance, invoice, "10.00")

    assert as_role("client").get(f"/invoices/{invoice}").get_json()["amount_due"] == "2190.00"
    assert as_role("other_client").get(f"/invoices/{invoice}").status_code == 404


def test_finance_lists_invoices_across_clients_by_status(api, finance, invoice):
    api.post("/clients/BETA/bundles", {"quantity": 1, "purchased_on": "2026-03-10"})
    finance.post("/invoices/run", {"period": "2026-04"})  # BETA's bundle: INV-…-00002
    pay(finance, invoice, "2200.00")

    def numbers(query: str) -> list[str]:
        response = finance.get(f"/invoices?{query}")
        assert response.status_code == 200, response.get_json()
        return [item["number"] for item in response.get_json()["items"]]

    assert numbers("status=paid") == [inv(1)]
    assert numbers("status=open") == [inv(2)]
    assert numbers("status=open&client=ALPHA") == []
    assert numbers("period=2026-04") == [inv(2)]
    assert numbers("limit=1") == [inv(1)]
    assert finance.get("/invoices?status=settled").get_json()["error"]["field"] == "status"
    assert finance.get("/invoices?client=NOPE").status_code == 404
