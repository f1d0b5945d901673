"""Bundles, cases, activities, waivers, term closes and the ledger through the JSON API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ledger.extensions import db
from ledger.services.ratecards import create_rate_card
from tests.helpers import both_engines

TECHNICIAN = "Tess Tech"


def appointment(start: str, minutes: int) -> dict:
    """An appointment body that starts at ``start`` and lasts ``minutes``."""
    started = datetime.fromisoformat(start)
    ended = started + timedelta(minutes=minutes)
    return {"started_at": started.isoformat(), "ended_at": ended.isoformat(), "technician": TECHNICIAN}


def response_body(at: str) -> dict:
    return {"responded_at": at, "technician": TECHNICIAN}


def buy(api, code: str, quantity: int, on: str = "2026-01-05", **extra) -> dict:
    response = api.post(f"/clients/{code}/bundles", {"quantity": quantity, "purchased_on": on, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def open_case(api, code: str, opened_at: str = "2026-01-10T08:00:00+00:00", subject="VPN down") -> str:
    response = api.post(f"/clients/{code}/cases",
                        {"subject": subject, "severity": "major", "opened_at": opened_at})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["number"]


def available(api, code: str, as_of: str = "2026-06-30") -> int:
    return api.get(f"/clients/{code}/balance?as_of={as_of}").get_json()["incidents"]["available"]


def entries(api, code: str, query: str = "") -> list[dict]:
    return api.get(f"/clients/{code}/entries{query}").get_json()["items"]


def activities(api, case: str) -> list[dict]:
    return api.get(f"/cases/{case}/activities").get_json()["items"]


@pytest.fixture
def acme(make_client, rate_card):
    """A USD client whose term runs through 2026, billing overage."""
    make_client("ACME")
    return "ACME"


# --- bundles and balances ------------------------------------------------------------


def test_a_bundle_without_unit_price_is_priced_from_the_rate_card(api, acme):
    bundle = buy(api, acme, 10)

    assert bundle["quantity"] == 10
    assert bundle["unit_price"] == "200.00"
    assert bundle["currency"] == "USD"
    assert bundle["lot"]["quantity"] == 10
    assert bundle["lot"]["remaining"] == 10
    assert bundle["lot"]["kind"] == "purchase"


def test_a_bundle_is_priced_in_the_clients_currency(api, make_client, rate_card):
    make_client("EURO", currency="EUR", locale="de_DE")

    bundle = buy(api, "EURO", 3)

    assert (bundle["unit_price"], bundle["currency"]) == ("200.00", "EUR")


def test_a_bundle_with_an_explicit_unit_price_keeps_that_price(api, acme):
    bundle = buy(api, acme, 10, unit_price="180.50")

    assert bundle["unit_price"] == "180.50"


def test_a_bundle_without_unit_price_and_without_a_rate_card_is_refused(app, api, make_client):
    with app.app_context():  # a card exists (a client needs one) but is not in force on the day
        create_rate_card(db.session, "USD", date(2027, 1, 1))
        db.session.commit()
    make_client("NOCARD")

    response = api.post("/clients/NOCARD/bundles", {"quantity": 5, "purchased_on": "2026-01-05"})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "unit_price"
    assert entries(api, "NOCARD") == []


@pytest.mark.parametrize(
    ("purchased_on", "expires_on"),
    [
        ("2025-06-15", "2026-06-14"),  # on the anniversary
        ("2026-03-01", "2026-06-14"),  # mid-term
        ("2026-06-14", "2026-06-14"),  # on the term's last day
        ("2026-06-15", "2027-06-14"),  # the next anniversary opens the next term
    ],
)
def test_a_bundles_lot_expires_at_the_end_of_the_term_containing_the_purchase(
    api, make_client, rate_card, purchased_on, expires_on
):
    make_client("JUNE", term_start=date(2024, 6, 15))

    bundle = buy(api, "JUNE", 5, on=purchased_on)

    assert bundle["lot"]["starts_on"] == purchased_on
    assert bundle["lot"]["expires_on"] == expires_on


def test_the_balance_as_of_a_day_counts_only_lots_usable_that_day(api, acme):
    bundle = buy(api, acme, 10, on="2026-01-05")

    before = api.get(f"/clients/{acme}/balance?as_of=2026-01-04").get_json()
    during = api.get(f"/clients/{acme}/balance?as_of=2026-01-05").get_json()
    last_day = api.get(f"/clients/{acme}/balance?as_of=2026-12-31").get_json()
    after = api.get(f"/clients/{acme}/balance?as_of=2027-01-01").get_json()

    assert before["incidents"] == {"available": 0, "overage": 0, "lots": []}
    assert during["as_of"] == "2026-01-05"
    assert during["incidents"]["available"] == 10
    assert [(lot["id"], lot["kind"], lot["quantity"], lot["remaining"], lot["expires_on"])
            for lot in during["incidents"]["lots"]] == [(bundle["lot"]["id"], "purchase", 10, 10, "2026-12-31")]
    assert last_day["incidents"]["available"] == 10
    assert after["incidents"]["available"] == 0


def test_the_balance_as_of_an_earlier_day_ignores_later_charges(api, acme):
    buy(api, acme, 10, on="2026-01-05")
    case = open_case(api, acme)
    api.post(f"/cases/{case}/appointments", appointment("2026-03-02T10:00:00+00:00", 90))

    assert available(api, acme, "2026-03-01") == 10
    assert available(api, acme, "2026-03-02") == 7


# --- cases and activities ------------------------------------------------------------


def test_opening_a_case_answers_201_with_its_number(api, acme):
    response = api.post(f"/clients/{acme}/cases", {
        "subject": "Mail server down", "severity": "critical", "opened_at": "2026-02-01T09:30:00+01:00"})

    assert response.status_code == 201
    case = response.get_json()
    assert case["number"]
    assert case["client"] == acme
    assert case["subject"] == "Mail server down"
    assert case["severity"] == "critical"
    assert datetime.fromisoformat(case["opened_at"]) == datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
    assert api.get(f"/cases/{case['number']}").get_json() == case
    assert [c["number"] for c in api.get(f"/clients/{acme}/cases").get_json()["items"]] == [case["number"]]


def test_a_help_desk_answer_charges_nothing_but_is_logged(api, acme):
    buy(api, acme, 10)
    case = open_case(api, acme)

    response = api.post(f"/cases/{case}/helpdesk-answers", {
        "answered_at": "2026-02-01T09:00:00+00:00", "by": "Hank Helpdesk", "note": "reset the password"})

    assert response.status_code == 201
    answer = response.get_json()
    assert answer["kind"] == "helpdesk_answer"
    assert answer["case"] == case
    assert answer["incidents_charged"] == 0
    assert answer["waived"] is False
    assert answer["entries"] == []
    assert [a["id"] for a in activities(api, case)] == [answer["id"]]
    assert api.get(f"/activities/{answer['id']}").get_json() == answer
    assert available(api, acme) == 10


def test_the_first_technician_response_on_a_case_charges_one_incident_and_the_second_none(api, acme):
    buy(api, acme, 10)
    case = open_case(api, acme)

    first = api.post(f"/cases/{case}/responses", response_body("2026-02-01T09:00:00+00:00"))
    second = api.post(f"/cases/{case}/responses", response_body("2026-02-01T11:00:00+00:00"))

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["kind"] == "technician_response"
    assert first.get_json()["incidents_charged"] == 1
    assert [e["quantity"] for e in first.get_json()["entries"]] == [-1]
    assert second.get_json()["incidents_charged"] == 0
    assert second.get_json()["entries"] == []
    assert available(api, acme) == 9
    assert len(activities(api, case)) == 2


def test_the_first_technician_response_on_each_case_is_charged(api, acme):
    buy(api, acme, 10)
    cases = [open_case(api, acme, subject=f"Case {n}") for n in range(3)]

    charged = [api.post(f"/cases/{case}/responses", response_body("2026-02-01T09:00:00+00:00"))
               .get_json()["incidents_charged"] for case in cases]

    assert charged == [1, 1, 1]
    assert available(api, acme) == 7


@pytest.mark.parametrize(
    ("minutes", "incidents"),
    [(1, 2), (45, 2), (60, 2), (61, 3), (90, 3), (91, 4), (150, 5), (24 * 60, 48)],
)
def test_an_appointment_is_charged_by_the_spec_table(api, acme, minutes, incidents):
    buy(api, acme, 50)
    case = open_case(api, acme)

    response = api.post(f"/cases/{case}/appointments", appointment("2026-02-02T10:00:00+00:00", minutes))

    assert response.status_code == 201
    activity = response.get_json()
    assert activity["kind"] == "appointment"
    assert activity["minutes"] == minutes
    assert activity["incidents_charged"] == incidents
    assert sum(e["quantity"] for e in activity["entries"]) == -incidents
    assert available(api, acme) == 50 - incidents


def test_an_appointment_of_part_of_a_minute_more_than_an_hour_costs_three(api, acme):
    buy(api, acme, 10)
    case = open_case(api, acme)

    response = api.post(f"/cases/{case}/appointments", {
        "started_at": "2026-02-02T10:00:00+00:00", "ended_at": "2026-02-02T11:00:01+00:00",
        "technician": TECHNICIAN})

    assert response.get_json()["incidents_charged"] == 3
    assert available(api, acme) == 7


def test_an_appointment_keeps_the_offset_it_was_given_in(api, acme):
    buy(api, acme, 10)
    case = open_case(api, acme)

    activity = api.post(f"/cases/{case}/appointments", {
        "started_at": "2026-02-02T23:30:00-05:00", "ended_at": "2026-02-03T00:15:00-05:00",
        "technician": TECHNICIAN}).get_json()

    assert activity["occurred_at"] == "2026-02-02T23:30:00-05:00"
    assert activity["ended_at"] == "2026-02-03T00:15:00-05:00"
    assert activity["effective_on"] == "2026-02-02"
    assert activity["minutes"] == 45


@pytest.mark.parametrize(
    ("started_at", "ended_at"),
    [
        pytest.param("2026-02-02T10:00:00+00:00", "2026-02-02T10:00:00+00:00", id="zero length"),
        pytest.param("2026-02-02T10:00:00+00:00", "2026-02-02T09:00:00+00:00", id="end before start"),
        pytest.param("2026-02-02T10:00:00+00:00", "2026-02-02T10:30:00+02:00", id="end before start by offset"),
        pytest.param("2026-02-02T10:00:00+00:00", "2026-02-03T10:01:00+00:00", id="over 24 hours"),
        pytest.param("2026-02-02T10:00:00+00:00", "2026-02-09T10:00:00+00:00", id="a week"),
    ],
)
def test_an_impossible_appointment_is_refused_and_nothing_is_posted(api, acme, started_at, ended_at):
    buy(api, acme, 10)
    case = open_case(api, acme)
    before = entries(api, acme)

    response = api.post(f"/cases/{case}/appointments",
                        {"started_at": started_at, "ended_at": ended_at, "technician": TECHNICIAN})

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "ended_at"
    assert error["message"]
    assert entries(api, acme) == before
    assert activities(api, case) == []
    assert available(api, acme) == 10


def test_an_activity_before_its_case_was_opened_is_refused(api, acme):
    buy(api, acme, 10)
    case = open_case(api, acme, opened_at="2026-02-02T12:00:00+00:00")

    response = api.post(f"/cases/{case}/responses", response_body("2026-02-02T11:59:00+00:00"))

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "responded_at"
    assert activities(api, case) == []
    assert available(api, acme) == 10


# --- overage ------------------------------------------------------------------------


def test_a_charge_beyond_the_balance_is_overage_under_the_bill_policy(api, acme):
    buy(api, acme, 1)
    case = open_case(api, acme)

    response = api.post(f"/cases/{case}/appointments", appointment("2026-02-02T10:00:00+00:00", 90))

    assert response.status_code == 201
    assert response.get_json()["incidents_charged"] == 3
    assert sorted((e["kind"], e["quantity"]) for e in response.get_json()["entries"]) == [
        ("charge", -1), ("overage", -2)]
    balance = api.get(f"/clients/{acme}/balance?as_of=2026-06-30").get_json()
    assert balance["incidents"]["available"] == 0
    assert balance["incidents"]["overage"] == 2


def test_a_charge_beyond_the_balance_is_refused_under_the_block_policy(api, make_client, rate_card):
    make_client("STRICT", overage_policy="block")
    buy(api, "STRICT", 1)
    case = open_case(api, "STRICT")
    before = entries(api, "STRICT")

    response = api.post(f"/cases/{case}/appointments", appointment("2026-02-02T10:00:00+00:00", 60))

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_balance"
    assert error["message"]
    assert entries(api, "STRICT") == before
    assert activities(api, case) == []
    balance = api.get("/clients/STRICT/balance?as_of=2026-06-30").get_json()
    assert (balance["incidents"]["available"], balance["incidents"]["overage"]) == (1, 0)


def test_a_charge_the_balance_covers_exactly_is_accepted_under_the_block_policy(
    api, make_client, rate_card
):
    make_client("STRICT", overage_policy="block")
    buy(api, "STRICT", 2)
    case = open_case(api, "STRICT")

    response = api.post(f"/cases/{case}/appointments", appointment("2026-02-02T10:00:00+00:00", 60))

    assert response.status_code == 201
    assert available(api, "STRICT") == 0


# --- waivers ------------------------------------------------------------------------


@pytest.fixture
def charged_today(api, make_client, rate_card):
    """A client with 10 incidents and a 90-minute appointment (3 incidents) that began today.

    Waivers post on the later of the activity's day and today, so the dates follow the clock.
    """
    now = datetime.now(UTC)
    make_client("WAIVE", term_start=(now - timedelta(days=30)).date().replace(day=1))
    start = now.replace(hour=0, minute=5, second=0, microsecond=0)
    buy(api, "WAIVE", 10, on=(now - timedelta(days=1)).date().isoformat())
    case = open_case(api, "WAIVE", opened_at=(start - timedelta(hours=1)).isoformat())
    activity = api.post(f"/cases/{case}/appointments", appointment(start.isoformat(), 90)).get_json()
    assert activity["incidents_charged"] == 3
    return {"activity": activity, "case": case, "today": now.date().isoformat()}


def test_a_waiver_with_a_reason_restores_the_balance_with_a_reversing_entry(api, charged_today):
    activity = charged_today["activity"]
    reason = "site down caused by our faulty update"

    response = api.post(f"/activities/{activity['id']}/waive", {"reason": reason})

    assert response.status_code == 201
    waived = response.get_json()
    assert waived["id"] == activity["id"]
    assert waived["waived"] is True
    assert waived["waive_reason"] == reason
    assert waived["incidents_charged"] == 0
    charges = [e for e in waived["entries"] if e["kind"] == "charge"]
    reversals = [e for e in waived["entries"] if e["kind"] == "reversal"]
    assert sum(e["quantity"] for e in charges) == -3
    assert sum(e["quantity"] for e in reversals) == 3
    assert {e["reverses_id"] for e in reversals} == {e["id"] for e in charges}
    assert available(api, "WAIVE", charged_today["today"]) == 10
    ledger = entries(api, "WAIVE")
    assert [e["kind"] for e in ledger] == ["purchase", "charge", "reversal"]
    assert api.get(f"/activities/{activity['id']}").get_json() == waived


def test_waiving_twice_is_a_409_and_posts_nothing(api, charged_today):
    activity = charged_today["activity"]
    api.post(f"/activities/{activity['id']}/waive", {"reason": "vendor outage"})
    before = entries(api, "WAIVE")

    response = api.post(f"/activities/{activity['id']}/waive", {"reason": "again"})

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert entries(api, "WAIVE") == before
    assert api.get(f"/activities/{activity['id']}").get_json()["waive_reason"] == "vendor outage"
    assert available(api, "WAIVE", charged_today["today"]) == 10


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}],
                         ids=["missing", "empty", "blank"])
def test_a_waiver_without_a_reason_is_refused(api, charged_today, body):
    activity = charged_today["activity"]

    response = api.post(f"/activities/{activity['id']}/waive", body)

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "reason"
    assert api.get(f"/activities/{activity['id']}").get_json()["waived"] is False
    assert available(api, "WAIVE", charged_today["today"]) == 7


def test_waiving_a_charge_that_ran_into_overage_cancels_the_overage(api, make_client, rate_card):
    now = datetime.now(UTC)
    make_client("OVER", term_start=(now - timedelta(days=30)).date().replace(day=1))
    buy(api, "OVER", 1, on=(now - timedelta(days=1)).date().isoformat())
    start = now.replace(hour=0, minute=5, second=0, microsecond=0)
    case = open_case(api, "OVER", opened_at=(start - timedelta(hours=1)).isoformat())
    activity = api.post(f"/cases/{case}/appointments", appointment(start.isoformat(), 90)).get_json()
    today = now.date().isoformat()
    charged = api.get(f"/clients/OVER/balance?as_of={today}").get_json()["incidents"]

    api.post(f"/activities/{activity['id']}/waive", {"reason": "our mistake"})

    waived = api.get(f"/clients/OVER/balance?as_of={today}").get_json()["incidents"]
    assert (charged["available"], charged["overage"]) == (0, 2)
    assert (waived["available"], waived["overage"]) == (1, 0)


def test_an_activity_that_charged_nothing_cannot_be_waived(api, charged_today):
    answer = api.post(f"/cases/{charged_today['case']}/helpdesk-answers", {
        "answered_at": charged_today["activity"]["occurred_at"], "by": "Hank"}).get_json()

    response = api.post(f"/activities/{answer['id']}/waive", {"reason": "free anyway"})

    assert response.status_code == 409
    assert api.get(f"/activities/{answer['id']}").get_json()["waived"] is False


# --- closing terms ------------------------------------------------------------------


@pytest.fixture
def ended_2025(make_client, rate_card):
    """A client whose 2025 term has ended: terms close only as of a day that has passed."""
    make_client("ACME", term_start=date(2025, 1, 1))
    return "ACME"


@pytest.fixture
def finance(api, make_token):
    return api.as_(make_token("finance"))


def use_22_incidents(api, code: str) -> None:
    """One 11-hour appointment: 2 for the first hour and 20 half-hours."""
    case = open_case(api, code, "2025-01-10T08:00:00+00:00")
    activity = api.post(f"/cases/{case}/appointments",
                        appointment("2025-03-02T08:00:00+00:00", 11 * 60)).get_json()
    assert activity["incidents_charged"] == 22


@both_engines
def test_closing_a_term_rolls_fifteen_over_and_expires_the_rest(api, ended_2025, finance):
    buy(api, ended_2025, 40, "2025-01-05")
    use_22_incidents(api, ended_2025)

    response = finance.post("/terms/close", {"as_of": "2025-12-31"})

    assert response.status_code == 200
    closed = response.get_json()["closed"]
    assert [(c["client"], c["term_end"], c["rolled_over"], c["expired"]) for c in closed] == [
        (ended_2025, "2025-12-31", 15, 3)]
    closing = entries(api, ended_2025, "?from=2026-01-01")
    assert sorted((e["kind"], e["quantity"]) for e in closing) == [
        ("expiry", -3), ("rollover_in", 15), ("rollover_out", -15)]
    balance = api.get(f"/clients/{ended_2025}/balance?as_of=2026-01-01").get_json()["incidents"]
    assert balance["available"] == 15
    assert [(lot["kind"], lot["quantity"], lot["remaining"], lot["expires_on"])
            for lot in balance["lots"]] == [("rollover", 15, 15, "2026-12-31")]


def test_closing_terms_again_closes_nothing_new_and_posts_nothing(api, ended_2025, finance):
    buy(api, ended_2025, 40, "2025-01-05")
    use_22_incidents(api, ended_2025)
    finance.post("/terms/close", {"as_of": "2025-12-31"})
    before = entries(api, ended_2025)

    again = finance.post("/terms/close", {"as_of": "2025-12-31"})
    later = finance.post("/terms/close", {"as_of": "2026-06-30"})

    assert again.status_code == 200
    assert again.get_json() == {"closed": []}
    assert later.get_json() == {"closed": []}
    assert entries(api, ended_2025) == before
    assert available(api, ended_2025, "2026-01-01") == 15


def test_closing_terms_before_the_term_ends_closes_nothing(api, ended_2025, finance):
    buy(api, ended_2025, 40, "2025-01-05")

    response = finance.post("/terms/close", {"as_of": "2025-12-30"})

    assert response.get_json() == {"closed": []}
    assert [e["kind"] for e in entries(api, ended_2025)] == ["purchase"]


def test_a_term_with_fifteen_or_fewer_unused_rolls_them_all_over(api, ended_2025, finance):
    buy(api, ended_2025, 20, "2025-01-05")
    case = open_case(api, ended_2025, "2025-01-10T08:00:00+00:00")
    api.post(f"/cases/{case}/appointments", appointment("2025-03-02T08:00:00+00:00", 150))

    closed = finance.post("/terms/close", {"as_of": "2025-12-31"}).get_json()["closed"]

    assert [(c["rolled_over"], c["expired"]) for c in closed] == [(15, 0)]
    assert sorted(e["kind"] for e in entries(api, ended_2025, "?from=2026-01-01")) == [
        "rollover_in", "rollover_out"]


# --- the ledger -------------------------------------------------------------------


def test_entries_are_signed_credits_positive_and_debits_negative(api, acme):
    buy(api, acme, 5, on="2026-01-05")
    case = open_case(api, acme)
    api.post(f"/cases/{case}/appointments", appointment("2026-02-02T10:00:00+00:00", 150))
    api.post(f"/cases/{case}/responses", response_body("2026-02-03T10:00:00+00:00"))

    ledger = entries(api, acme)

    assert [(e["kind"], e["quantity"], e["unit"], e["effective_on"]) for e in ledger] == [
        ("purchase", 5, "incident", "2026-01-05"),
        ("charge", -5, "incident", "2026-02-02"),
        ("overage", -1, "incident", "2026-02-03"),
    ]
    assert ledger[0]["activity_id"] is None and ledger[0]["lot_id"] is not None
    assert ledger[2]["lot_id"] is None and ledger[2]["activity_id"] is not None
    assert all(e["posted_at"] and e["memo"] for e in ledger)


def test_entries_can_be_filtered_by_effective_day(api, acme):
    buy(api, acme, 10, on="2026-01-05")
    case = open_case(api, acme)
    for day in ("2026-02-01", "2026-03-01", "2026-04-01"):
        api.post(f"/cases/{case}/appointments", appointment(f"{day}T10:00:00+00:00", 60))

    def days(query):
        return [e["effective_on"] for e in entries(api, acme, query)]

    assert days("") == ["2026-01-05", "2026-02-01", "2026-03-01", "2026-04-01"]
    assert days("?from=2026-02-01") == ["2026-02-01", "2026-03-01", "2026-04-01"]
    assert days("?to=2026-03-01") == ["2026-01-05", "2026-02-01", "2026-03-01"]
    assert days("?from=2026-02-02&to=2026-03-31") == ["2026-03-01"]
    assert days("?from=2026-05-01") == []


def test_entries_are_listed_in_pages(api, acme):
    for day in ("2026-01-05", "2026-01-06", "2026-01-07"):
        buy(api, acme, 1, on=day)

    first = api.get(f"/clients/{acme}/entries?limit=2").get_json()
    second = api.get(f"/clients/{acme}/entries?limit=2&cursor={first['next']}").get_json()

    assert [e["effective_on"] for e in first["items"]] == ["2026-01-05", "2026-01-06"]
    assert [e["effective_on"] for e in second["items"]] == ["2026-01-07"]
    assert second["next"] is None
