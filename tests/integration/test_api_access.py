"""Who may call what: 401 without a live token, 403 for a role without the right,
404 for a client user asking for another client's resource, on every API route."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ledger.extensions import db
from ledger.models import ApiToken, Client
from ledger.services.invoicing import issue_invoice
from ledger.services.users import revoke_token, user_for_token
from tests.helpers import add_client, both_engines, built_once, staff_api

#: endpoints with nothing to guard: the public API description and "who am I"
UNGUARDED = {"api.openapi", "api.me"}
#: what the other client calls its things: none of it may reach a client user of ALPHA
BETA_NAME = "Beta Confidential Industries"
BETA_SUBJECT = "Beta's confidential outage"

CASE = {"subject": "Outage", "severity": "critical", "opened_at": "2026-02-01T09:00:00+00:00"}
APPOINTMENT = {"started_at": "2026-02-02T10:00:00+00:00", "ended_at": "2026-02-02T11:00:00+00:00",
               "technician": "Tess Tech"}
RESPONSE = {"responded_at": "2026-02-02T12:00:00+00:00", "technician": "Tess Tech"}
ANSWER = {"answered_at": "2026-02-02T12:00:00+00:00", "by": "Hank Helpdesk"}
BUNDLE = {"quantity": 5, "purchased_on": "2026-02-01"}
WORK = {"role": "analyst", "minutes": 60, "performed_on": "2026-02-02", "description": "Workshop"}
NEW_CLIENT = {"code": "GAMMA", "name": "Gamma", "currency": "USD", "locale": "en_US", "tax_rate": "10",
              "term_start": "2026-01-01"}
RATE_CARD = {"currency": "USD", "effective_from": "2026-06-01", "incident_price": "210.00",
             "overage_price": "260.00",
             "roles": [{"code": "analyst", "title": "Analyst", "hourly": "160.00", "daily": "1280.00"}]}


def quote_body() -> dict:
    valid_until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    return {"lines": [{"role": "analyst", "unit": "hour", "quantity": 10}], "valid_until": valid_until}


def row_counts(app) -> dict[str, int]:
    """Rows in every table: a refused request leaves all of them as they were."""
    with app.app_context():
        return {table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
                for table in db.metadata.sorted_tables}


def guarded_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("api.") and rule.endpoint not in UNGUARDED}


def endpoint_of(app, method: str, path: str) -> str:
    """The endpoint that serves ``method path`` (path under /api/v1)."""
    endpoint, _ = app.url_map.bind("localhost").match(f"/api/v1{path}", method)
    return endpoint


def seed_client(api, code: str, name: str, subject: str) -> dict:
    """A client's bundle, case, charged appointment and sent quote, made through the API."""
    assert api.post(f"/clients/{code}/bundles", {"quantity": 10, "purchased_on": "2026-01-05"}).status_code == 201
    case = api.post(f"/clients/{code}/cases", {**CASE, "subject": subject}).get_json()["number"]
    activity = api.post(f"/cases/{case}/appointments", APPOINTMENT).get_json()["id"]
    quote = api.post(f"/clients/{code}/quotes", quote_body()).get_json()["number"]
    assert api.post(f"/quotes/{quote}/send", {}).status_code == 200
    return {"code": code, "name": name, "case": case, "activity": activity, "quote": quote}


def issue_january_invoice(app, code: str) -> str:
    """Issue the client's invoice for 2026-01 (its bundle) and return its number."""
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == code))
        invoice = issue_invoice(db.session, client, "2026-01", date(2026, 2, 1))
        db.session.commit()
        return invoice.number


@built_once(after=("rate_card",))
def alpha(app, after) -> dict:
    """Client ALPHA with a bundle, a case, a charged appointment, a sent quote and an invoice."""
    add_client(app, "ALPHA", name="Alpha Ltd")
    seeded = seed_client(staff_api(app), "ALPHA", "Alpha Ltd", "Alpha's outage")
    return {**seeded, "invoice": issue_january_invoice(app, "ALPHA")}


@built_once(after=("rate_card",))
def beta(app, after) -> dict:
    """Client BETA, the same, under names that must never reach ALPHA's users."""
    add_client(app, "BETA", name=BETA_NAME)
    seeded = seed_client(staff_api(app), "BETA", BETA_NAME, BETA_SUBJECT)
    return {**seeded, "invoice": issue_january_invoice(app, "BETA")}


@pytest.fixture
def as_role(api, make_token):
    """The API as a user of ``role``; a client user belongs to ALPHA."""

    def make(role: str):
        if role == "account_manager":
            return api
        return api.as_(make_token(role, client="ALPHA" if role == "client" else None))

    return make


# --- 401 -------------------------------------------------------------------------


def revoke(app, token: str) -> None:
    with app.app_context():
        user = user_for_token(db.session, token)
        token_id = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.user_id == user.id))
        revoke_token(db.session, token_id)
        db.session.commit()


def deactivate(app, token: str) -> None:
    with app.app_context():
        user_for_token(db.session, token).active = False
        db.session.commit()


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no header"),
        pytest.param("", id="empty header"),
        pytest.param("Bearer", id="scheme without token"),
        pytest.param("Bearer ", id="scheme and blank"),
        pytest.param("Bearer not-a-token", id="garbage"),
        pytest.param("Bearer sl_" + "A" * 43, id="well-formed but unknown"),
        pytest.param("Bearer sl_" + "A" * 5000, id="very long"),
        pytest.param("Basic YWRtaW46YWRtaW4=", id="basic auth"),
        pytest.param("{token}", id="valid token without scheme"),
        pytest.param("Token {token}", id="valid token, wrong scheme"),
        pytest.param("Bearer {token}x", id="valid token with a byte appended"),
    ],
)
def test_a_request_without_a_live_bearer_token_is_401(app, api, make_client, authorization):
    make_client("ALPHA", name="Alpha Ltd")
    before = row_counts(app)
    headers = {} if authorization is None else {"Authorization": authorization.format(token=api.token)}
    client = app.test_client()

    read = client.get("/api/v1/clients/ALPHA", headers=headers)
    write = client.post("/api/v1/clients/ALPHA/bundles", json=BUNDLE, headers=headers)

    for response in (read, write):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert b"Alpha Ltd" not in response.get_data()
    assert row_counts(app) == before


@pytest.mark.parametrize("take_away", [revoke, deactivate], ids=["revoked token", "deactivated user"])
def test_a_token_stops_working_once_revoked_or_its_user_deactivated(app, api, make_client, make_token,
                                                                   take_away):
    make_client("ALPHA", name="Alpha Ltd")
    token = make_token("account_manager")
    assert api.get("/clients/ALPHA", token=token).status_code == 200
    take_away(app, token)
    before = row_counts(app)

    read = api.get("/clients/ALPHA", token=token)
    write = api.post("/clients/ALPHA/bundles", BUNDLE, token=token)

    assert (read.status_code, write.status_code) == (401, 401)
    assert read.get_json()["error"]["code"] == "unauthorized"
    assert row_counts(app) == before
    assert api.get("/clients/ALPHA").status_code == 200  # other tokens still work


def test_the_scheme_name_is_case_insensitive(app, api):
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"bearer {api.token}"})

    assert response.status_code == 200
    assert response.get_json()["role"] == "account_manager"


def test_the_openapi_document_needs_no_token(app):
    response = app.test_client().get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


# --- 403: the role matrix -----------------------------------------------------------

ROLE_MATRIX = [
    # finance reads everything and runs the books, but logs no support work and sells nothing
    ("finance", "POST", "/cases/{case}/helpdesk-answers", ANSWER, 403),
    ("finance", "POST", "/cases/{case}/responses", RESPONSE, 403),
    ("finance", "POST", "/cases/{case}/appointments", APPOINTMENT, 403),
    ("finance", "POST", "/activities/{activity}/waive", {"reason": "goodwill"}, 403),
    ("finance", "POST", "/clients/{code}/bundles", BUNDLE, 403),
    ("finance", "POST", "/clients/{code}/cases", CASE, 403),
    ("finance", "POST", "/clients", NEW_CLIENT, 403),
    ("finance", "POST", "/clients/{code}/work", WORK, 403),
    ("finance", "GET", "/clients/{code}", None, 200),
    ("finance", "GET", "/clients/{code}/balance", None, 200),
    ("finance", "GET", "/clients/{code}/entries", None, 200),
    ("finance", "GET", "/activities/{activity}", None, 200),
    ("finance", "GET", "/rate-card", None, 200),
    ("finance", "POST", "/terms/close", {"as_of": "2025-12-31"}, 200),
    # a client user reads its own organisation and changes nothing but its quotes
    ("client", "POST", "/clients", NEW_CLIENT, 403),
    ("client", "POST", "/clients/{code}/bundles", BUNDLE, 403),
    ("client", "POST", "/clients/{code}/cases", CASE, 201),  # a client user opens its own cases
    ("client", "POST", "/cases/{case}/helpdesk-answers", ANSWER, 403),
    ("client", "POST", "/cases/{case}/responses", RESPONSE, 403),
    ("client", "POST", "/cases/{case}/appointments", APPOINTMENT, 403),
    ("client", "POST", "/activities/{activity}/waive", {"reason": "please"}, 403),
    ("client", "POST", "/clients/{code}/work", WORK, 403),
    ("client", "POST", "/quotes/{quote}/send", {}, 403),
    ("client", "POST", "/terms/close", {"as_of": "2025-12-31"}, 403),
    ("client", "GET", "/rate-card", None, 403),
    ("client", "POST", "/rate-card", RATE_CARD, 403),
    # an account manager sells and logs, but closes no terms and keeps no rate card
    ("account_manager", "POST", "/terms/close", {"as_of": "2025-12-31"}, 403),
    ("account_manager", "POST", "/rate-card", RATE_CARD, 403),
    ("account_manager", "GET", "/rate-card", None, 200),
    ("account_manager", "POST", "/clients/{code}/bundles", BUNDLE, 201),
    # an admin may do everything
    ("admin", "POST", "/terms/close", {"as_of": "2025-12-31"}, 200),
    ("admin", "POST", "/clients", NEW_CLIENT, 201),
    ("admin", "POST", "/cases/{case}/responses", RESPONSE, 201),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "status"), ROLE_MATRIX,
                         ids=[f"{r[0]} {r[1]} {r[2]}" for r in ROLE_MATRIX])
def test_each_role_may_do_only_what_api_md_gives_it(app, alpha, as_role, role, method, path, body, status):
    user = as_role(role)
    path = path.format(**alpha)
    before = row_counts(app)

    response = user.get(path) if method == "GET" else user.post(path, body)

    assert response.status_code == status, response.get_data(as_text=True)
    if status == 403:
        assert response.get_json()["error"]["code"] == "forbidden"
        assert row_counts(app) == before


# --- 404: every route, aimed at another client ---------------------------------------

#: per endpoint, the requests a client user of ALPHA makes for BETA's things, and the answer.
#: Paths name BETA's code, case, activity and quote; routes that name no client are refused by role.
CROSS_CLIENT = {
    "api.create_client": [("POST", "/clients", NEW_CLIENT, 403)],
    "api.list_clients": [("GET", "/clients", None, 200)],
    "api.get_client": [("GET", "/clients/{code}", None, 404)],
    "api.get_balance": [("GET", "/clients/{code}/balance?as_of=2026-06-30", None, 404)],
    "api.list_entries": [("GET", "/clients/{code}/entries", None, 404)],
    "api.buy_bundle": [("POST", "/clients/{code}/bundles", BUNDLE, 404)],
    "api.open_case": [("POST", "/clients/{code}/cases", CASE, 404)],
    "api.list_cases": [("GET", "/clients/{code}/cases", None, 404)],
    "api.get_case": [("GET", "/cases/{case}", None, 404)],
    "api.list_activities": [("GET", "/cases/{case}/activities", None, 404)],
    "api.log_helpdesk_answer": [("POST", "/cases/{case}/helpdesk-answers", ANSWER, 404)],
    "api.log_response": [("POST", "/cases/{case}/responses", RESPONSE, 404)],
    "api.log_appointment": [("POST", "/cases/{case}/appointments", APPOINTMENT, 404)],
    "api.get_activity": [("GET", "/activities/{activity}", None, 404)],
    "api.waive": [("POST", "/activities/{activity}/waive", {"reason": "please"}, 404)],
    "api.close_terms": [("POST", "/terms/close", {"as_of": "2026-12-31"}, 403)],
    "api.rate_card": [("GET", "/rate-card", None, 403)],
    "api.create_rate_card": [("POST", "/rate-card", RATE_CARD, 403)],
    "api.create_quote": [("POST", "/clients/{code}/quotes", "quote", 404)],
    "api.list_quotes": [("GET", "/clients/{code}/quotes", None, 404)],
    "api.get_quote": [("GET", "/quotes/{quote}", None, 404)],
    "api.quote_pdf": [("GET", "/quotes/{quote}/pdf", None, 404)],
    "api.move_quote": [
        ("POST", "/quotes/{quote}/send", {}, 404),
        ("POST", "/quotes/{quote}/accept", {}, 404),
        ("POST", "/quotes/{quote}/decline", {}, 404),
    ],
    "api.log_work": [("POST", "/clients/{code}/work", WORK, 404)],
    "api.run_invoices": [("POST", "/invoices/run", {"period": "2026-01"}, 403)],
    "api.list_invoices": [("GET", "/clients/{code}/invoices", None, 404)],
    "api.get_invoice": [("GET", "/invoices/{invoice}", None, 404)],
    "api.invoice_pdf": [("GET", "/invoices/{invoice}/pdf", None, 404)],
    "api.credit_note": [("POST", "/invoices/{invoice}/credit-notes", {"reason": "please"}, 404)],
    "api.export_invoices": [("GET", "/invoices/export?period=2026-01", None, 403)],
    "api.change_client": [("PATCH", "/clients/{code}", {"purchase_order": "PO-1"}, 404)],
    "api.get_vendor": [("GET", "/vendor", None, 403)],
    "api.put_vendor": [("PUT", "/vendor", {"legal_name": "Beta's vendor"}, 403)],
    "api.change_case_status": [("POST", "/cases/{case}/status",
                                {"status": "in_progress", "at": "2026-02-02T10:00:00+00:00"}, 404)],
    "api.list_support_plans": [("GET", "/support-plans", None, 200)],
    "api.sla_report": [("GET", "/clients/{code}/sla-report?period=2026-02", None, 404)],
    "api.invoice_xml": [("GET", "/invoices/{invoice}/xml", None, 404)],
    "api.invoice_ubl": [("GET", "/invoices/{invoice}/ubl", None, 404)],
    "api.list_all_invoices": [("GET", "/invoices", None, 403)],
    "api.record_payment": [("POST", "/invoices/{invoice}/payments", {"amount": "1.00", "paid_on": "2026-02-02"}, 404)],
    "api.list_payments": [("GET", "/invoices/{invoice}/payments", None, 404)],
    "api.create_support_plan": [("POST", "/support-plans", {}, 403)],
}


def test_the_cross_client_table_covers_every_guarded_api_route(app):
    """A new API route fails here until its cross-client request is added to CROSS_CLIENT."""
    assert set(CROSS_CLIENT) == guarded_endpoints(app)
    sample = {"code": "BETA", "case": "C-000001", "activity": 1, "quote": "Q-2026-00001",
              "invoice": "INV-2026-00001"}
    for endpoint, requests in CROSS_CLIENT.items():
        for method, template, _, _ in requests:
            path = template.format(**sample).split("?")[0]
            assert endpoint_of(app, method, path) == endpoint, (method, template)


@both_engines
def test_a_client_user_gets_404_for_every_route_naming_another_clients_resource(app, alpha, beta, as_role):
    alpha_user = as_role("client")
    answered = []
    before = row_counts(app)

    for endpoint, requests in sorted(CROSS_CLIENT.items()):
        for method, template, body, status in requests:
            path = template.format(**beta)
            if method == "GET":
                response = alpha_user.get(path)
            elif method == "POST":
                response = alpha_user.post(path, quote_body() if body == "quote" else body)
            else:
                response = alpha_user.send(method, path, body)
            answered.append((endpoint, method, path, response.status_code))
            data = response.get_data()
            assert BETA_NAME.encode() not in data and BETA_SUBJECT.encode() not in data, path
            if status != 200:
                error = response.get_json()["error"]
                assert error["code"] == {403: "forbidden", 404: "not_found"}[status], path
            assert row_counts(app) == before, path

    expected = [(endpoint, method, template.format(**beta), status)
                for endpoint, requests in sorted(CROSS_CLIENT.items())
                for method, template, _, status in requests]
    assert answered == expected
    assert {e for e, *_ in answered} == guarded_endpoints(app)
    listed = alpha_user.get("/clients").get_json()["items"]
    assert [c["code"] for c in listed] == ["ALPHA"]


def test_a_client_user_sees_its_own_organisation(app, alpha, as_role):
    alpha_user = as_role("client")

    responses = {
        path: alpha_user.get(path.format(**alpha))
        for path in (
            "/me", "/clients/{code}", "/clients/{code}/balance?as_of=2026-06-30", "/clients/{code}/entries",
            "/clients/{code}/cases", "/cases/{case}", "/cases/{case}/activities", "/activities/{activity}",
            "/clients/{code}/quotes", "/quotes/{quote}", "/clients/{code}/invoices", "/invoices/{invoice}",
        )
    }

    assert {path: r.status_code for path, r in responses.items()} == dict.fromkeys(responses, 200)
    body = {path: r.get_json() for path, r in responses.items()}
    assert body["/me"]["client"] == "ALPHA"
    assert body["/clients/{code}"]["name"] == "Alpha Ltd"
    assert body["/clients/{code}/balance?as_of=2026-06-30"]["incidents"]["available"] == 8
    assert [e["quantity"] for e in body["/clients/{code}/entries"]["items"]] == [10, -2]
    assert [c["number"] for c in body["/clients/{code}/cases"]["items"]] == [alpha["case"]]
    assert body["/cases/{case}"]["subject"] == "Alpha's outage"
    assert [a["id"] for a in body["/cases/{case}/activities"]["items"]] == [alpha["activity"]]
    assert body["/activities/{activity}"]["incidents_charged"] == 2
    assert [q["number"] for q in body["/clients/{code}/quotes"]["items"]] == [alpha["quote"]]
    assert body["/quotes/{quote}"]["state"] == "sent"


def test_a_client_user_may_accept_its_own_sent_quote_but_not_anothers(api, alpha, beta, as_role):
    alpha_user = as_role("client")

    mine = alpha_user.post(f"/quotes/{alpha['quote']}/accept", {})
    theirs = alpha_user.post(f"/quotes/{beta['quote']}/accept", {})

    assert mine.status_code == 200
    assert mine.get_json()["state"] == "accepted"
    assert theirs.status_code == 404
    assert api.get(f"/quotes/{beta['quote']}").get_json()["state"] == "sent"
