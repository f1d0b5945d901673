"""Idempotency-Key: a repeated POST returns the first response and never posts twice."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from ledger.extensions import db
from tests.helpers import both_engines

APPOINTMENT = {"started_at": "2026-02-02T10:00:00+00:00", "ended_at": "2026-02-02T11:30:00+00:00",
               "technician": "Tess Tech"}
CASE = {"subject": "Disk full", "severity": "minor", "opened_at": "2026-02-01T09:00:00+00:00"}


def key(value: str) -> dict:
    return {"Idempotency-Key": value}


def row_counts(app) -> dict[str, int]:
    """Rows in every table but the idempotency records themselves."""
    with app.app_context():
        return {table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
                for table in db.metadata.sorted_tables if table.name != "idempotency_records"}


def entries(api) -> list[dict]:
    return api.get("/clients/ACME/entries").get_json()["items"]


def available(api) -> int:
    return api.get("/clients/ACME/balance?as_of=2026-06-30").get_json()["incidents"]["available"]


@pytest.fixture
def case(api, make_client, rate_card) -> str:
    """Client ACME with 10 incidents and an open case; returns the case number."""
    make_client("ACME")
    assert api.post("/clients/ACME/bundles", {"quantity": 10, "purchased_on": "2026-01-05"}).status_code == 201
    return api.post("/clients/ACME/cases", CASE).get_json()["number"]


@both_engines
def test_a_repeated_appointment_returns_the_first_response_and_charges_once(app, api, case):
    first = api.post(f"/cases/{case}/appointments", APPOINTMENT, headers=key("appt-1"))
    after_first = row_counts(app)

    again = api.post(f"/cases/{case}/appointments", APPOINTMENT, headers=key("appt-1"))

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    assert row_counts(app) == after_first
    assert len(api.get(f"/cases/{case}/activities").get_json()["items"]) == 1
    assert available(api) == 7


def test_a_repeated_bundle_purchase_sells_one_bundle(app, api, case):
    body = {"quantity": 5, "purchased_on": "2026-03-01"}
    first = api.post("/clients/ACME/bundles", body, headers=key("bundle-march"))
    count = len(entries(api))

    responses = [api.post("/clients/ACME/bundles", body, headers=key("bundle-march")) for _ in range(3)]

    assert {r.get_json()["id"] for r in responses} == {first.get_json()["id"]}
    assert all(r.status_code == 201 for r in responses)
    assert len(entries(api)) == count
    assert available(api) == 15


def test_the_same_body_written_differently_is_the_same_request(app, api, case):
    compact = json.dumps(CASE, separators=(",", ":")).encode()
    reordered = json.dumps(dict(reversed(list(CASE.items()))), indent=2).encode()
    first = api.post("/clients/ACME/cases", data=compact, headers=key("case-1"))
    before = row_counts(app)

    again = api.post("/clients/ACME/cases", data=reordered, headers=key("case-1"))

    assert again.status_code == 201
    assert again.get_json()["number"] == first.get_json()["number"]
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/cases/{case}/appointments", {**APPOINTMENT, "ended_at": "2026-02-02T12:30:00+00:00"},
                     id="same route, another body"),
        pytest.param("/cases/{case}/responses",
                     {"responded_at": "2026-02-02T10:00:00+00:00", "technician": "Tess Tech"},
                     id="another route"),
    ],
)
def test_the_same_key_with_another_request_is_a_409_and_posts_nothing(app, api, case, path, body):
    first = api.post(f"/cases/{case}/appointments", APPOINTMENT, headers=key("appt-1"))
    before = row_counts(app)

    response = api.post(path.format(case=case), body, headers=key("appt-1"))

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["field"] == "Idempotency-Key"
    assert error["message"]
    assert row_counts(app) == before
    replay = api.post(f"/cases/{case}/appointments", APPOINTMENT, headers=key("appt-1"))
    assert replay.get_json() == first.get_json()


def test_keys_belong_to_the_user_who_sent_them(app, api, case, make_token):
    colleague = api.as_(make_token("account_manager"))

    mine = api.post("/clients/ACME/cases", CASE, headers=key("shared-key"))
    theirs_same_body = colleague.post("/clients/ACME/cases", CASE, headers=key("shared-key"))
    theirs_other_body = colleague.post(
        "/clients/ACME/cases", {**CASE, "subject": "Disk full again"}, headers=key("other-key"))
    mine_other_body_their_key = api.post(
        "/clients/ACME/cases", {**CASE, "subject": "Disk full again"}, headers=key("other-key"))

    statuses = [r.status_code for r in (mine, theirs_same_body, theirs_other_body, mine_other_body_their_key)]
    assert statuses == [201, 201, 201, 201]
    numbers = [r.get_json()["number"] for r in (mine, theirs_same_body, theirs_other_body,
                                                 mine_other_body_their_key)]
    assert len(set(numbers)) == 4
    assert len(api.get("/clients/ACME/cases").get_json()["items"]) == 5


def test_a_refused_request_can_be_retried_with_a_corrected_body_under_the_same_key(app, api, case):
    before = row_counts(app)
    wrong = {**APPOINTMENT, "ended_at": "2026-02-02T09:00:00+00:00"}

    refused = api.post(f"/cases/{case}/appointments", wrong, headers=key("appt-retry"))
    refused_again = api.post(f"/cases/{case}/appointments", wrong, headers=key("appt-retry"))
    after_refusals = row_counts(app)
    corrected = api.post(f"/cases/{case}/appointments", APPOINTMENT, headers=key("appt-retry"))
    repeated = api.post(f"/cases/{case}/appointments", APPOINTMENT, headers=key("appt-retry"))

    assert (refused.status_code, refused_again.status_code) == (422, 422)
    assert after_refusals == before
    assert corrected.status_code == 201
    assert corrected.get_json()["incidents_charged"] == 3
    assert repeated.get_json() == corrected.get_json()
    assert available(api) == 7


def test_a_refused_charge_under_block_can_be_retried_once_the_balance_covers_it(api, make_client, rate_card):
    make_client("ACME", overage_policy="block")
    number = api.post("/clients/ACME/cases", CASE).get_json()["number"]

    refused = api.post(f"/cases/{number}/appointments", APPOINTMENT, headers=key("appt-block"))
    api.post("/clients/ACME/bundles", {"quantity": 3, "purchased_on": "2026-01-05"})
    retried = api.post(f"/cases/{number}/appointments", APPOINTMENT, headers=key("appt-block"))

    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "insufficient_balance"
    assert retried.status_code == 201
    assert available(api) == 0


def test_a_repeated_waiver_returns_the_first_response_not_a_conflict(app, api, case):
    activity = api.post(f"/cases/{case}/appointments", APPOINTMENT).get_json()
    body = {"reason": "vendor outage"}
    first = api.post(f"/activities/{activity['id']}/waive", body, headers=key("waive-1"))
    before = row_counts(app)

    again = api.post(f"/activities/{activity['id']}/waive", body, headers=key("waive-1"))
    without_key = api.post(f"/activities/{activity['id']}/waive", body)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert without_key.status_code == 409
    assert row_counts(app) == before


def test_without_a_key_each_post_is_a_new_request(api, case):
    one = api.post("/clients/ACME/cases", CASE)
    two = api.post("/clients/ACME/cases", CASE)

    assert one.get_json()["number"] != two.get_json()["number"]


@pytest.mark.parametrize("bad_key", ["", "   ", "k" * 201], ids=["empty", "blank", "too long"])
def test_an_unusable_key_is_a_400_and_nothing_is_posted(app, api, case, bad_key):
    before = row_counts(app)

    response = api.post("/clients/ACME/cases", CASE, headers=key(bad_key))

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "Idempotency-Key"
    assert row_counts(app) == before


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"subject": "Disk full", ', id="truncated"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested 100000 deep"),
    ],
)
def test_a_malformed_body_sent_with_a_key_is_a_400_and_the_key_stays_free(app, api, case, raw):
    before = row_counts(app)

    refused = api.post("/clients/ACME/cases", data=raw, headers=key("case-malformed"))
    corrected = api.post("/clients/ACME/cases", CASE, headers=key("case-malformed"))

    assert refused.status_code == 400
    assert refused.get_json()["error"]["field"] == "body"
    assert corrected.status_code == 201
    assert row_counts(app)["cases"] == before["cases"] + 1


def test_a_key_of_200_characters_is_accepted(api, case):
    first = api.post("/clients/ACME/cases", CASE, headers=key("k" * 200))
    again = api.post("/clients/ACME/cases", CASE, headers=key("k" * 200))

    assert first.status_code == 201
    assert again.get_json()["number"] == first.get_json()["number"]
