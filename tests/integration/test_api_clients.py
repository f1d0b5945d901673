"""Clients through the JSON API: create, read, refuse a taken code, list in pages."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.helpers import both_engines

ACME = {
    "code": "ACME",
    "name": "Acme Corporation",
    "currency": "EUR",
    "locale": "de_DE",
    "tax_rate": "8.25",
    "term_start": "2020-03-15",
    "maintenance_fee": "1200.00",
    "overage_policy": "block",
}


@pytest.fixture(autouse=True)
def _rate_cards(rate_card):
    """A client needs a rate card in its currency: USD, EUR and CAD have one."""


def today() -> date:
    return datetime.now(UTC).date()


def term_containing_today(month: int, day: int) -> dict:
    """The annual term (as the API writes it) of an anniversary on ``month``/``day`` that holds today."""
    now = today()
    year = now.year if (now.month, now.day) >= (month, day) else now.year - 1
    start = date(year, month, day)
    end = date(year + 1, month, day) - timedelta(days=1)
    return {"start": start.isoformat(), "end": end.isoformat()}


def client_body(**changes) -> dict:
    return {**ACME, **changes}


def test_creating_a_client_answers_201_with_the_client_as_api_md_describes(api):
    response = api.post("/clients", client_body())

    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "code": "ACME",
        "name": "Acme Corporation",
        "currency": "EUR",
        "locale": "de_DE",
        "tax_rate": "8.25",
        "term_start": "2020-03-15",
        "term": term_containing_today(3, 15),
        "maintenance_fee": "1200.00",
        "overage_policy": "block",
        "address": "",
        "country": "DE",
        "vat_id": "",
        "billing_emails": [],
        "payment_terms_days": 30,
        "purchase_order": "",
        "reverse_charge": False,
        "taxes": [],
        "support_plan": "standard",
        "time_zone": "UTC",  # the standard plan's zone once plans are seeded; none are here
    }


def test_a_client_created_without_policy_or_fee_bills_overage_and_pays_no_maintenance(api):
    body = client_body()
    del body["overage_policy"], body["maintenance_fee"]

    created = api.post("/clients", body).get_json()

    assert created["overage_policy"] == "bill"
    assert created["maintenance_fee"] == "0.00"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("10", "10"),
        ("8.25", "8.25"),
        ("7.5", "7.5"),
        ("0", "0"),
        ("100", "100"),
        ("19.600", "19.6"),
    ],
)
def test_tax_rate_is_a_percentage_written_as_a_string(api, given, shown):
    created = api.post("/clients", client_body(tax_rate=given))
    fetched = api.get("/clients/ACME")

    assert created.status_code == 201
    assert created.get_json()["tax_rate"] == shown
    assert fetched.get_json()["tax_rate"] == shown


def test_a_taken_code_is_a_409_conflict_and_the_first_client_stays(api):
    api.post("/clients", client_body())

    response = api.post("/clients", client_body(name="Another Acme", currency="USD"))

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict"
    assert error["field"] == "code"
    assert error["message"]
    listed = api.get("/clients").get_json()["items"]
    assert [(c["code"], c["name"], c["currency"]) for c in listed] == [("ACME", "Acme Corporation", "EUR")]


def test_getting_a_client_shows_it_with_its_current_term(api):
    api.post("/clients", client_body(term_start="2019-07-01"))

    response = api.get("/clients/ACME")

    assert response.status_code == 200
    client = response.get_json()
    assert client["code"] == "ACME"
    assert client["name"] == "Acme Corporation"
    assert client["term_start"] == "2019-07-01"
    assert client["term"] == term_containing_today(7, 1)


def test_an_unknown_client_is_404(api):
    response = api.get("/clients/NOPE")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_clients_are_listed_in_pages_following_the_cursor(api):
    for code in ("C1", "C2", "C3", "C4", "C5"):
        assert api.post("/clients", client_body(code=code)).status_code == 201

    first = api.get("/clients?limit=2").get_json()
    second = api.get(f"/clients?limit=2&cursor={first['next']}").get_json()
    third = api.get(f"/clients?limit=2&cursor={second['next']}").get_json()

    assert [c["code"] for c in first["items"]] == ["C1", "C2"]
    assert [c["code"] for c in second["items"]] == ["C3", "C4"]
    assert [c["code"] for c in third["items"]] == ["C5"]
    assert first["next"] and second["next"] and first["next"] != second["next"]
    assert third["next"] is None


def test_a_list_shorter_than_the_limit_has_no_next_page(api):
    api.post("/clients", client_body(code="C1"))
    api.post("/clients", client_body(code="C2"))

    page = api.get("/clients").get_json()

    assert [c["code"] for c in page["items"]] == ["C1", "C2"]
    assert page["next"] is None
    assert page["items"][0] == api.get("/clients/C1").get_json()


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten", "2.5", "", "%C2%B2", "1e3"],
                         ids=["0", "1001", "-1", "ten", "2.5", "empty", "superscript two", "1e3"])
def test_a_limit_outside_1_to_1000_is_refused(api, limit):
    response = api.get(f"/clients?limit={limit}")

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"
    assert response.get_json()["error"]["field"] == "limit"


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_limits_of_1_and_1000_are_accepted(api, limit):
    api.post("/clients", client_body())

    response = api.get(f"/clients?limit={limit}")

    assert response.status_code == 200
    assert [c["code"] for c in response.get_json()["items"]] == ["ACME"]


def encoded(text: str) -> str:
    """A cursor in the API's own encoding, around ``text``."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@both_engines
@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("%21%21not-a-cursor", id="not base64"),
        pytest.param(encoded("ten"), id="not a number"),
        pytest.param(encoded("9" * 23), id="a number no id reaches"),
    ],
)
def test_a_cursor_the_api_never_gave_out_is_a_400(api, cursor):
    response = api.get(f"/clients?cursor={cursor}")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    assert response.get_json()["error"]["field"] == "cursor"
