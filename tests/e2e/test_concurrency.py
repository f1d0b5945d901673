"""Parallel requests against the served app never lose a charge or double-spend a lot.

Each test fires its requests from many threads released together by a barrier, at
``ledger serve`` (gunicorn, four worker processes), on SQLite and on PostgreSQL. The
tests share one server per engine and keep to client codes of their own.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.helpers import ServedApi, in_parallel

pytestmark = pytest.mark.served

PURCHASED_ON = "2026-01-05"
OPENED_AT = "2026-02-01T09:00:00+00:00"
RESPONSE = {"responded_at": "2026-02-02T10:00:00+00:00", "technician": "Sam"}
#: 90 minutes: 2 incidents for the first hour, 1 for the next 30 minutes
APPOINTMENT_90_MINUTES = {
    "started_at": "2026-02-03T10:00:00+00:00", "ended_at": "2026-02-03T11:30:00+00:00",
    "technician": "Dana",
}
#: every balance is read on a fixed day of the client's 2026 term, after all the activity
AS_OF = "2026-02-28"


def new_client(api: ServedApi, code: str, overage_policy: str) -> None:
    response = api.post("/clients", {
        "code": code, "name": f"Client {code}", "currency": "USD", "locale": "en_US",
        "tax_rate": "10", "term_start": "2026-01-01", "overage_policy": overage_policy,
    })
    assert response.status_code == 201, response.text


def bundle(api: ServedApi, code: str, quantity: int):
    return api.post(f"/clients/{code}/bundles",
                    {"quantity": quantity, "purchased_on": PURCHASED_ON, "unit_price": "40.00"})


def open_case(api: ServedApi, code: str):
    return api.post(f"/clients/{code}/cases",
                    {"subject": "Mail is down", "severity": "critical", "opened_at": OPENED_AT})


def open_cases(api: ServedApi, code: str, count: int) -> list[str]:
    numbers = []
    for _ in range(count):
        response = open_case(api, code)
        assert response.status_code == 201, response.text
        numbers.append(response.json()["number"])
    return numbers


def incidents(api: ServedApi, code: str) -> dict:
    response = api.get(f"/clients/{code}/balance", as_of=AS_OF)
    assert response.status_code == 200, response.text
    return response.json()["incidents"]


def assert_lots_match_their_entries(balance: dict, entries: list[dict]) -> None:
    """What each lot says is left is exactly the sum of the entries posted to it."""
    for lot in balance["lots"]:
        posted = sum(e["quantity"] for e in entries if e["lot_id"] == lot["id"])
        assert lot["remaining"] == posted, f"lot {lot['id']}: {lot['remaining']} vs {posted}"


def unexpected(answers, *allowed: int) -> list[str]:
    """The answers with another status, for the failure message."""
    return [f"{a.status_code} {a.text[:300]}" for a in answers if a.status_code not in allowed]


def test_30_parallel_first_responses_on_20_blocked_incidents_charge_exactly_20(shared_live_server):
    api = shared_live_server.api
    new_client(api, "BLOCK20", overage_policy="block")
    assert bundle(api, "BLOCK20", 20).status_code == 201
    cases = open_cases(api, "BLOCK20", 30)

    answers = in_parallel([
        lambda number=number: api.post(f"/cases/{number}/responses", RESPONSE) for number in cases
    ])

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 20, 422: 10}, unexpected(answers, 201, 422)
    refusals = {a.json()["error"]["code"] for a in answers if a.status_code == 422}
    assert refusals == {"insufficient_balance"}
    assert [a.json()["incidents_charged"] for a in answers if a.status_code == 201] == [1] * 20
    balance = incidents(api, "BLOCK20")
    assert (balance["available"], balance["overage"]) == (0, 0)
    entries = api.all_items("/clients/BLOCK20/entries")
    assert Counter(e["kind"] for e in entries) == {"purchase": 1, "charge": 20}
    charges = [e for e in entries if e["kind"] == "charge"]
    assert [e["quantity"] for e in charges] == [-1] * 20
    accepted = {a.json()["id"] for a in answers if a.status_code == 201}
    assert sorted(e["activity_id"] for e in charges) == sorted(accepted)
    assert_lots_match_their_entries(balance, entries)
    refused = [number for number, a in zip(cases, answers) if a.status_code == 422]
    assert {number: api.all_items(f"/cases/{number}/activities") for number in refused} == {
        number: [] for number in refused
    }


def test_30_parallel_responses_on_one_case_charge_one_incident_in_all(shared_live_server):
    api = shared_live_server.api
    new_client(api, "ONECASE", overage_policy="bill")
    assert bundle(api, "ONECASE", 5).status_code == 201
    [number] = open_cases(api, "ONECASE", 1)

    answers = in_parallel([lambda: api.post(f"/cases/{number}/responses", RESPONSE)] * 30)

    assert [a.status_code for a in answers] == [201] * 30, unexpected(answers, 201)
    assert sorted(a.json()["incidents_charged"] for a in answers) == [0] * 29 + [1]
    activities = api.all_items(f"/cases/{number}/activities")
    assert len(activities) == 30
    assert sum(activity["incidents_charged"] for activity in activities) == 1
    entries = api.all_items("/clients/ONECASE/entries")
    assert [(e["kind"], e["quantity"]) for e in entries] == [("purchase", 5), ("charge", -1)]
    balance = incidents(api, "ONECASE")
    assert (balance["available"], balance["overage"]) == (4, 0)
    assert_lots_match_their_entries(balance, entries)


def test_one_idempotency_key_sent_by_10_threads_at_once_posts_one_appointment(shared_live_server):
    api = shared_live_server.api
    new_client(api, "IDEM", overage_policy="bill")
    assert bundle(api, "IDEM", 10).status_code == 201
    [number] = open_cases(api, "IDEM", 1)
    key = {"Idempotency-Key": "helpdesk-ticket-4711-visit"}

    def visit():
        return api.post(f"/cases/{number}/appointments", APPOINTMENT_90_MINUTES, headers=key)

    answers = in_parallel([visit] * 10)

    assert [a.status_code for a in answers] == [201] * 10, unexpected(answers, 201)
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.json()["incidents_charged"] for a in answers] == [3] * 10
    assert len(api.all_items(f"/cases/{number}/activities")) == 1
    entries = api.all_items("/clients/IDEM/entries")
    assert [(e["kind"], e["quantity"]) for e in entries] == [("purchase", 10), ("charge", -3)]
    balance = incidents(api, "IDEM")
    assert (balance["available"], balance["overage"]) == (7, 0)
    assert_lots_match_their_entries(balance, entries)


#: per client: bundles bought, first responses on that many cases, 90-minute appointments,
#: and the net incidents that must be left (purchases − 1 per response − 3 per appointment)
MIXED = [
    ("MIXA", (5, 5, 5), 8, 4, 15 - 8 - 12),
    ("MIXB", (10, 2), 3, 1, 12 - 3 - 3),
    ("MIXC", (1, 1, 1, 1), 6, 2, 4 - 6 - 6),
    ("MIXD", (20,), 5, 5, 20 - 5 - 15),
]


def test_parallel_purchases_and_charges_on_several_clients_leave_purchases_minus_charges(
    shared_live_server,
):
    api = shared_live_server.api
    calls = []
    for code, bundles, responses, appointments, _ in MIXED:
        new_client(api, code, overage_policy="bill")
        cases = open_cases(api, code, max(responses, appointments))
        calls += [lambda code=code, q=q: bundle(api, code, q) for q in bundles]
        calls += [lambda n=n: api.post(f"/cases/{n}/responses", RESPONSE)
                  for n in cases[:responses]]
        calls += [lambda n=n: api.post(f"/cases/{n}/appointments", APPOINTMENT_90_MINUTES)
                  for n in cases[:appointments]]
    random.Random(20260202).shuffle(calls)  # interleave the clients

    answers = in_parallel(calls)

    assert [a.status_code for a in answers] == [201] * len(calls), unexpected(answers, 201)
    for code, bundles, _, _, net in MIXED:
        entries = api.all_items(f"/clients/{code}/entries")
        purchased = sum(e["quantity"] for e in entries if e["kind"] == "purchase")
        charged = sum(e["quantity"] for e in entries if e["kind"] in ("charge", "overage"))
        assert purchased == sum(bundles), code
        assert purchased + charged == net, code
        balance = incidents(api, code)
        assert balance["available"] - balance["overage"] == purchased + charged, (code, balance)
        overage_entries = sum(e["quantity"] for e in entries if e["kind"] == "overage")
        assert balance["overage"] == -overage_entries, code
        assert_lots_match_their_entries(balance, entries)


def test_30_cases_opened_in_parallel_get_30_different_numbers(shared_live_server):
    api = shared_live_server.api
    new_client(api, "NUMBERS", overage_policy="bill")

    answers = in_parallel([lambda: open_case(api, "NUMBERS")] * 30)

    assert [a.status_code for a in answers] == [201] * 30, unexpected(answers, 201)
    numbers = {a.json()["number"] for a in answers}
    assert len(numbers) == 30
    assert {case["number"] for case in api.all_items("/clients/NUMBERS/cases")} == numbers
