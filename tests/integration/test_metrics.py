"""``GET /metrics``: who may read it, and that requests, charges and the outbox are counted."""

from __future__ import annotations

import pytest

from tests.helpers import both_engines
from tests.helpers import metric_sample as sample

ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}


def scrape(app, **kwargs) -> str:
    response = app.test_client().get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def test_metrics_are_served_to_a_scraper_on_the_same_host(app):
    text = scrape(app)
    assert "# TYPE ledger_http_request_duration_seconds histogram" in text
    assert "# TYPE ledger_outbox_messages gauge" in text


def test_metrics_are_refused_to_another_address_without_a_token(app):
    response = app.test_client().get("/metrics", environ_base=ELSEWHERE)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_metrics_are_refused_on_loopback_when_a_proxy_forwarded_the_request(app):
    response = app.test_client().get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"})
    assert response.status_code == 403


def test_an_admin_token_reads_metrics_from_anywhere(app, make_token):
    scrape(app, environ_base=ELSEWHERE, headers={"Authorization": f"Bearer {make_token('admin')}"})


@pytest.mark.parametrize("role", ["account_manager", "finance"])
def test_another_role_s_token_is_refused_even_on_loopback(app, make_token, role):
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {make_token(role)}"})
    assert response.status_code == 403


def test_requests_are_counted_by_route_not_by_raw_path(app, api, acme):
    route = {"method": "GET", "route": "/api/v1/clients/<code>", "status": "200"}
    before = sample(scrape(app), "ledger_http_requests_total", **route)
    assert api.get("/clients/ACME").status_code == 200
    assert api.get("/clients/ACME").status_code == 200
    text = scrape(app)
    assert sample(text, "ledger_http_requests_total", **route) == before + 2
    assert "/api/v1/clients/ACME" not in text
    assert sample(text, "ledger_http_request_duration_seconds_count",
                  method="GET", route="/api/v1/clients/<code>") >= 2


@both_engines
def test_a_committed_charge_is_counted_and_a_refused_one_is_not(app, api, make_client, rate_card):
    make_client("BLOK", overage_policy="block")
    api.post("/clients/BLOK/bundles", {"quantity": 1, "purchased_on": "2026-01-05"})
    cases = [api.post("/clients/BLOK/cases", {"subject": f"case {n}", "severity": "minor",
                                              "opened_at": "2026-01-10T08:00:00+00:00"}).get_json()["number"]
             for n in range(2)]
    labels = {"unit": "incident", "kind": "technician_response"}
    before = sample(scrape(app), "ledger_charges_posted_total", **labels)
    body = {"responded_at": "2026-01-10T09:00:00+00:00", "technician": "Tess"}
    assert api.post(f"/cases/{cases[0]}/responses", body).status_code == 201
    assert api.post(f"/cases/{cases[1]}/responses", body).status_code == 422  # no incident left
    text = scrape(app)
    assert sample(text, "ledger_charges_posted_total", **labels) == before + 1
    assert sample(text, "ledger_charged_quantity_total", **labels) >= 1


def test_the_outbox_is_counted_by_state_from_the_database(app):
    text = scrape(app)
    for state in ("queued", "sending", "sent", "failed"):
        assert sample(text, "ledger_outbox_messages", state=state) == 0


def test_the_bench_only_endpoint_does_not_exist_without_its_switch(app):
    assert app.test_client().post("/_bench/insert", json={"client_id": 1}).status_code == 404
