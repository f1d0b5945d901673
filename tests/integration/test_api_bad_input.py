"""Bad input through the JSON API: a clear error object naming the field, and nothing posted."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from ledger.extensions import db
from tests.helpers import add_client, both_engines, built_once, staff_api

BUNDLE = {"quantity": 5, "purchased_on": "2026-02-01"}
CASE = {"subject": "Printer on fire", "severity": "major", "opened_at": "2026-02-01T09:00:00+00:00"}
APPOINTMENT = {"started_at": "2026-02-02T10:00:00+00:00", "ended_at": "2026-02-02T11:00:00+00:00",
               "technician": "Tess Tech"}
RESPONSE = {"responded_at": "2026-02-02T10:00:00+00:00", "technician": "Tess Tech"}
CLIENT = {"code": "NEWCO", "name": "New Co", "currency": "USD", "locale": "en_US", "tax_rate": "10",
          "term_start": "2026-01-01"}

BUNDLES = "/clients/ACME/bundles"
CASES = "/clients/ACME/cases"
APPOINTMENTS = "/cases/{case}/appointments"
RESPONSES = "/cases/{case}/responses"
CLIENTS = "/clients"


def with_(base: dict, **changes) -> dict:
    return {**base, **changes}


def without(base: dict, name: str) -> dict:
    return {key: value for key, value in base.items() if key != name}


def row_counts(app) -> dict[str, int]:
    """Rows in every table: a request that posts nothing leaves all of them as they were."""
    with app.app_context():
        return {table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
                for table in db.metadata.sorted_tables}


def assert_error(response, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "field"}
    assert (error["code"], error["field"]) == (code, field)
    assert isinstance(error["message"], str) and error["message"].strip()


@built_once(after=("rate_card",))
def case(app, after) -> str:
    """Client ACME with 10 incidents and one open case; returns the case number."""
    add_client(app, "ACME")
    api = staff_api(app)
    assert api.post(BUNDLES, {"quantity": 10, "purchased_on": "2026-01-05"}).status_code == 201
    response = api.post(CASES, with_(CASE, opened_at="2026-01-10T08:00:00+00:00"))
    assert response.status_code == 201
    return response.get_json()["number"]


# --- the body is not a JSON object: 400 --------------------------------------------

RAW = [
    pytest.param(BUNDLES, b'{"quantity": 5, "purchased_on": ', id="truncated JSON"),
    pytest.param(BUNDLES, b"{'quantity': 5}", id="single quotes"),
    pytest.param(BUNDLES, b'[{"quantity": 5, "purchased_on": "2026-02-01"}]', id="an array"),
    pytest.param(BUNDLES, b'"quantity"', id="a string"),
    pytest.param(BUNDLES, b"5", id="a number"),
    pytest.param(BUNDLES, b"null", id="null"),
    pytest.param(BUNDLES, b'{"quantity": NaN, "purchased_on": "2026-02-01"}', id="NaN"),
    pytest.param(BUNDLES, b'{"quantity": Infinity, "purchased_on": "2026-02-01"}', id="Infinity"),
    pytest.param(BUNDLES, b"\xff\xfe{}", id="not UTF-8"),
    pytest.param(CASES, b"subject=Printer&severity=major", id="a form, not JSON"),
    pytest.param(APPOINTMENTS, b'{"started_at": "2026-02-02T10:00:00+00:00",,}', id="double comma"),
    pytest.param(CASES, b'{"subject": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="nested 100000 deep"),
    pytest.param(CASES, json.dumps(CASE).replace("Printer on fire", "\\ud800").encode(),
                 id="a lone surrogate in a string"),
    pytest.param(BUNDLES, b'{"quantity": 5, "purchased_on": "2026-02-01", "\\udfff": 1}',
                 id="a lone surrogate in a field name"),
]


@pytest.mark.parametrize(("path", "raw"), RAW)
def test_a_body_that_is_not_a_json_object_is_a_400_and_nothing_is_posted(app, api, case, path, raw):
    before = row_counts(app)

    response = api.post(path.format(case=case), data=raw)

    assert_error(response, 400, "bad_request", "body")
    assert row_counts(app) == before


# --- the body is an object with a bad field: 422 -----------------------------------

BAD_FIELDS = [
    # missing and unknown fields
    pytest.param(BUNDLES, {}, "quantity", id="empty object"),
    pytest.param(BUNDLES, without(BUNDLE, "quantity"), "quantity", id="missing quantity"),
    pytest.param(BUNDLES, without(BUNDLE, "purchased_on"), "purchased_on", id="missing purchased_on"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=None), "quantity", id="null quantity"),
    pytest.param(BUNDLES, with_(BUNDLE, colour="red"), "colour", id="unknown field"),
    pytest.param(BUNDLES, with_(BUNDLE, Quantity=5), "Quantity", id="field name in the wrong case"),
    pytest.param(CASES, without(CASE, "subject"), "subject", id="missing subject"),
    pytest.param(CASES, without(CASE, "severity"), "severity", id="missing severity"),
    pytest.param(APPOINTMENTS, without(APPOINTMENT, "ended_at"), "ended_at", id="missing ended_at"),
    pytest.param(APPOINTMENTS, without(APPOINTMENT, "technician"), "technician", id="missing technician"),
    pytest.param(APPOINTMENTS, with_(APPOINTMENT, minutes=60), "minutes", id="minutes are not an input"),
    pytest.param(RESPONSES, without(RESPONSE, "responded_at"), "responded_at", id="missing responded_at"),
    # wrong types and out-of-range quantities
    pytest.param(BUNDLES, with_(BUNDLE, quantity="5"), "quantity", id="quantity as a string"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=True), "quantity", id="quantity true"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=1.5), "quantity", id="quantity 1.5"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=5.0), "quantity", id="quantity 5.0"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=[5]), "quantity", id="quantity in a list"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity={"n": 5}), "quantity", id="quantity an object"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=0), "quantity", id="quantity zero"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=-3), "quantity", id="quantity negative"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=100_001), "quantity", id="quantity over the largest bundle"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=10**20), "quantity", id="quantity 10^20"),
    pytest.param(BUNDLES, with_(BUNDLE, quantity=-(2**63)), "quantity", id="quantity -2^63"),
    pytest.param(BUNDLES, with_(BUNDLE, unit_price="-1.00"), "unit_price", id="negative unit_price"),
    pytest.param(BUNDLES, with_(BUNDLE, unit_price="1.005"), "unit_price", id="unit_price beyond cents"),
    pytest.param(BUNDLES, with_(BUNDLE, unit_price="cheap"), "unit_price", id="unit_price a word"),
    pytest.param(BUNDLES, with_(BUNDLE, unit_price="1e15"), "unit_price", id="unit_price huge"),
    pytest.param(BUNDLES, with_(BUNDLE, unit_price=True), "unit_price", id="unit_price true"),
    pytest.param(CASES, with_(CASE, subject=42), "subject", id="subject a number"),
    pytest.param(CASES, with_(CASE, subject="   "), "subject", id="subject blank"),
    pytest.param(CASES, with_(CASE, subject="x" * 201), "subject", id="subject too long"),
    pytest.param(CASES, with_(CASE, subject="nul\x00byte"), "subject", id="subject with a NUL"),
    pytest.param(CASES, with_(CASE, severity="urgent"), "severity", id="unknown severity"),
    pytest.param(CASES, with_(CASE, severity="MAJOR"), "severity", id="severity in capitals"),
    # dates and times
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="2026-13-01"), "purchased_on", id="month 13"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="2026-02-30"), "purchased_on", id="30 February"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="yesterday"), "purchased_on", id="yesterday"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="1900-01-01"), "purchased_on", id="year 1900"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="9999-12-31"), "purchased_on", id="year 9999"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="01/02/2026"), "purchased_on", id="slashes"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="2026-2-1"), "purchased_on", id="no leading zeros"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on=20260201), "purchased_on", id="date a number"),
    pytest.param(BUNDLES, with_(BUNDLE, purchased_on="2026-02-01T00:00:00+00:00"), "purchased_on",
                 id="a time for a date"),
    pytest.param(CASES, with_(CASE, opened_at="2026-02-01T09:00:00"), "opened_at", id="opened_at no offset"),
    pytest.param(CASES, with_(CASE, opened_at="2026-02-01"), "opened_at", id="opened_at a date"),
    pytest.param(CASES, with_(CASE, opened_at="now"), "opened_at", id="opened_at now"),
    pytest.param(CASES, with_(CASE, opened_at="1900-02-01T09:00:00+00:00"), "opened_at",
                 id="opened_at in 1900"),
    pytest.param(APPOINTMENTS, with_(APPOINTMENT, started_at="2026-02-02T10:00:00"), "started_at",
                 id="started_at no offset"),
    pytest.param(APPOINTMENTS, with_(APPOINTMENT, ended_at="2026-02-02T11:00:00"), "ended_at",
                 id="ended_at no offset"),
    pytest.param(APPOINTMENTS, with_(APPOINTMENT, started_at="2026-02-02T25:00:00+00:00"), "started_at",
                 id="hour 25"),
    pytest.param(APPOINTMENTS, with_(APPOINTMENT, started_at=1769940000), "started_at",
                 id="a Unix timestamp"),
    pytest.param(RESPONSES, with_(RESPONSE, responded_at="2026-02-02 10:00"), "responded_at",
                 id="responded_at no offset"),
    # clients
    pytest.param(CLIENTS, without(CLIENT, "code"), "code", id="client without code"),
    pytest.param(CLIENTS, with_(CLIENT, code="has space"), "code", id="code with a space"),
    pytest.param(CLIENTS, with_(CLIENT, code="x" * 33), "code", id="code too long"),
    pytest.param(CLIENTS, with_(CLIENT, currency="XYZ"), "currency", id="unknown currency"),
    pytest.param(CLIENTS, with_(CLIENT, currency="usd"), "currency", id="currency in lower case"),
    pytest.param(CLIENTS, with_(CLIENT, currency="DOLLARS"), "currency", id="currency too long"),
    pytest.param(CLIENTS, with_(CLIENT, locale="xx_XX"), "locale", id="unknown locale"),
    pytest.param(CLIENTS, with_(CLIENT, locale="klingon"), "locale", id="locale a word"),
    pytest.param(CLIENTS, with_(CLIENT, tax_rate="100.5"), "tax_rate", id="tax_rate over 100"),
    pytest.param(CLIENTS, with_(CLIENT, tax_rate="101"), "tax_rate", id="tax_rate 101"),
    pytest.param(CLIENTS, with_(CLIENT, tax_rate="-1"), "tax_rate", id="tax_rate negative"),
    pytest.param(CLIENTS, with_(CLIENT, tax_rate="8.2555"), "tax_rate", id="tax_rate 4 decimals"),
    pytest.param(CLIENTS, with_(CLIENT, tax_rate="ten"), "tax_rate", id="tax_rate a word"),
    pytest.param(CLIENTS, with_(CLIENT, tax_rate="NaN"), "tax_rate", id="tax_rate NaN"),
    pytest.param(CLIENTS, with_(CLIENT, tax_rate=True), "tax_rate", id="tax_rate true"),
    pytest.param(CLIENTS, with_(CLIENT, term_start="2026-13-01"), "term_start", id="term_start month 13"),
    pytest.param(CLIENTS, with_(CLIENT, overage_policy="sometimes"), "overage_policy", id="unknown policy"),
    pytest.param(CLIENTS, with_(CLIENT, maintenance_fee="-5.00"), "maintenance_fee", id="negative fee"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_FIELDS)
def test_a_bad_field_is_a_422_naming_it_and_nothing_is_posted(app, api, case, path, body, field):
    before = row_counts(app)

    response = api.post(path.format(case=case), body)

    assert_error(response, 422, "validation_error", field)
    assert row_counts(app) == before


def test_the_valid_bodies_these_tests_spoil_are_accepted(api, case):
    """The bad-input table changes one field of these; unchanged, each of them posts."""
    assert api.post(BUNDLES, BUNDLE).status_code == 201
    assert api.post(CASES, CASE).status_code == 201
    assert api.post(APPOINTMENTS.format(case=case), APPOINTMENT).status_code == 201
    assert api.post(RESPONSES.format(case=case), RESPONSE).status_code == 201
    assert api.post(CLIENTS, CLIENT).status_code == 201


# --- unknown things: 404 -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param("/cases/C-999999/responses", RESPONSE, "number", id="unknown case, response"),
        pytest.param("/cases/C-999999/appointments", APPOINTMENT, "number", id="unknown case, appointment"),
        pytest.param("/cases/nonsense/helpdesk-answers",
                     {"answered_at": "2026-02-02T10:00:00+00:00", "by": "Hank"}, "number",
                     id="unknown case, help-desk answer"),
        pytest.param("/clients/NOPE/bundles", BUNDLE, "code", id="unknown client, bundle"),
        pytest.param("/clients/NOPE/cases", CASE, "code", id="unknown client, case"),
        pytest.param("/activities/999999/waive", {"reason": "none"}, "id", id="unknown activity"),
    ],
)
def test_an_unknown_case_client_or_activity_is_a_404_and_nothing_is_posted(app, api, case, path, body, field):
    before = row_counts(app)

    response = api.post(path, body)

    assert_error(response, 404, "not_found", field)
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/clients/ACME/balance?as_of=2026-13-01", "as_of"),
        ("/clients/ACME/balance?as_of=yesterday", "as_of"),
        ("/clients/ACME/entries?from=yesterday", "from"),
        ("/clients/ACME/entries?to=2026-02-30", "to"),
    ],
)
def test_a_bad_date_in_a_query_is_a_422_naming_the_parameter(api, case, path, field):
    assert_error(api.get(path), 422, "validation_error", field)


@both_engines
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/activities/2147483648", id="activity id past 32 bits"),
        pytest.param("/activities/99999999999999999999999", id="activity id past 64 bits"),
        pytest.param("/clients/%00", id="client code with a NUL byte"),
        pytest.param("/cases/%00", id="case number with a NUL byte"),
        pytest.param("/quotes/Q%00", id="quote number with a NUL byte"),
    ],
)
def test_an_identifier_no_row_can_have_is_a_404(api, make_client, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@both_engines
def test_waiving_an_activity_whose_id_is_past_32_bits_is_a_404_and_nothing_is_posted(app, api, case):
    before = row_counts(app)

    response = api.post("/activities/2147483648/waive", {"reason": "none"})

    assert_error(response, 404, "not_found", "id")
    assert row_counts(app) == before


# --- size ----------------------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_a_413_and_nothing_is_posted(app, api, case):
    before = row_counts(app)
    raw = json.dumps(with_(CASE, subject="x" * (1024 * 1024))).encode()

    response = api.post(CASES, data=raw)

    assert_error(response, 413, "too_large", "body")
    assert row_counts(app) == before


def test_a_body_just_under_one_mebibyte_is_read_and_judged_on_its_fields(app, api, case):
    before = row_counts(app)
    padding = "x" * (1024 * 1024 - 200)
    raw = json.dumps(with_(CASE, subject=padding)).encode()
    assert len(raw) < 1024 * 1024

    response = api.post(CASES, data=raw)

    assert_error(response, 422, "validation_error", "subject")
    assert row_counts(app) == before


# --- text is stored and returned as given ------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)> & &amp; \"quoted\" 'single'",
    "Überlauf — 障害 — \u2028line separator",
    "{{ 7*7 }} ${7*7} %s %(x)s",
    "'; DROP TABLE entries; --",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_html_and_markup_in_text_fields_come_back_byte_identical(api, case, text):
    opened = api.post(CASES, with_(CASE, subject=text))
    answer = api.post(f"/cases/{case}/helpdesk-answers",
                      {"answered_at": "2026-02-02T10:00:00+00:00", "by": text, "note": text})

    assert opened.status_code == 201 and answer.status_code == 201
    number = opened.get_json()["number"]
    fetched = api.get(f"/cases/{number}")
    assert opened.get_json()["subject"] == text
    assert fetched.get_json()["subject"] == text
    assert json.dumps(text, ensure_ascii=False).encode() in fetched.get_data()
    assert answer.get_json()["note"] == text
    assert answer.get_json()["actor"] == text
    listed = api.get(f"/cases/{case}/activities").get_json()["items"]
    assert [a["note"] for a in listed] == [text]
    assert fetched.headers["X-Content-Type-Options"] == "nosniff"
