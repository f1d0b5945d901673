"""The production server (``ledger serve``: gunicorn, several workers) serves the same JSON API."""

from __future__ import annotations

import pytest

from tests.helpers import both_engines

pytestmark = pytest.mark.served


@both_engines
def test_a_served_client_buys_a_bundle_and_a_100_minute_appointment_leaves_six_of_ten(live_server):
    api = live_server.api

    client = api.post("/clients", {
        "code": "ACME", "name": "Acme Corp", "currency": "USD", "locale": "en_US",
        "tax_rate": "8.25", "term_start": "2026-01-01", "maintenance_fee": "1200.00",
        "overage_policy": "bill",
    })
    assert client.status_code == 201, client.text
    assert (client.json()["tax_rate"], client.json()["maintenance_fee"]) == ("8.25", "1200.00")
    assert api.get("/clients/ACME").json()["name"] == "Acme Corp"

    bundle = api.post("/clients/ACME/bundles",
                      {"quantity": 10, "purchased_on": "2026-03-02", "unit_price": "45.00"})
    assert bundle.status_code == 201, bundle.text
    assert (bundle.json()["unit_price"], bundle.json()["currency"]) == ("45.00", "USD")
    assert bundle.json()["lot"]["remaining"] == 10
    assert bundle.json()["lot"]["expires_on"] == "2026-12-31"

    case = api.post("/clients/ACME/cases", {
        "subject": "Printer queue stuck", "severity": "major",
        "opened_at": "2026-03-09T08:30:00+01:00",
    })
    assert case.status_code == 201, case.text
    number = case.json()["number"]

    appointment = api.post(f"/cases/{number}/appointments", {
        "started_at": "2026-03-10T10:00:00+01:00", "ended_at": "2026-03-10T11:40:00+01:00",
        "technician": "Dana",
    })
    assert appointment.status_code == 201, appointment.text
    assert appointment.json()["kind"] == "appointment"
    assert appointment.json()["minutes"] == 100
    assert appointment.json()["incidents_charged"] == 4
    assert appointment.json()["occurred_at"] == "2026-03-10T10:00:00+01:00"

    balance = api.get("/clients/ACME/balance", as_of="2026-03-31")
    assert balance.status_code == 200, balance.text
    incidents = balance.json()["incidents"]
    assert (incidents["available"], incidents["overage"]) == (6, 0)
    assert [(lot["quantity"], lot["remaining"]) for lot in incidents["lots"]] == [(10, 6)]

    entries = api.all_items("/clients/ACME/entries")
    assert [(e["kind"], e["quantity"]) for e in entries] == [("purchase", 10), ("charge", -4)]


def test_the_served_openapi_document_needs_no_token_but_the_rest_of_the_api_does(
    shared_live_server,
):
    anonymous = shared_live_server.api.anonymous()

    document = anonymous.get("/openapi.json")
    assert document.status_code == 200, document.text
    assert document.headers["Content-Type"].startswith("application/json")
    assert document.json()["openapi"].startswith("3.")

    refused = anonymous.get("/clients")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert shared_live_server.api.get("/clients").status_code == 200
