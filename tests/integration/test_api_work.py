"""Professional-service work through the JSON API: rounding, prepaid hours, overage, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def prepay(api, code: str, role: str, hours: str) -> None:
    """Sell ``hours`` of ``role`` on a quote and accept it: prepaid minutes from today."""
    valid_until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    lines = [{"role": role, "unit": "hour", "quantity": hours}]
    created = api.post(f"/clients/{code}/quotes", {"lines": lines, "valid_until": valid_until})
    assert created.status_code == 201, created.get_json()
    number = created.get_json()["number"]
    for action in ("send", "accept"):
        response = api.post(f"/quotes/{number}/{action}")
        assert response.status_code == 200, response.get_json()


def log(api, code: str, minutes, role: str = "developer", **extra):
    body = {"role": role, "minutes": minutes, "performed_on": today(),
            "description": "Data migration"}
    body.update(extra)
    return api.post(f"/clients/{code}/work", body)


def logged(api, code: str, minutes, role: str = "developer", **extra) -> dict:
    response = log(api, code, minutes, role, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def prepaid_minutes(api, code: str, role: str = "developer") -> int:
    hours = api.get(f"/clients/{code}/balance").get_json()["hours"]
    return hours.get(role, {"available_minutes": 0})["available_minutes"]


def minute_entries(api, code: str) -> list[tuple[int, str]]:
    items = api.get(f"/clients/{code}/entries").get_json()["items"]
    return [(e["quantity"], e["kind"]) for e in items
            if e["unit"] == "minute" and e["kind"] != "purchase"]


def open_case(api, code: str) -> str:
    body = {"subject": "Data migration", "severity": "minor",
            "opened_at": f"{today()}T08:00:00+00:00"}
    response = api.post(f"/clients/{code}/cases", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["number"]


@pytest.fixture
def acme(make_client, rate_card):
    """A USD client on the seed rate card, no prepaid hours yet."""
    make_client("ACME")
    return "ACME"


# --- rounding and prepaid hours ------------------------------------------------------


@pytest.mark.parametrize(("minutes", "billed"), [
    (1, 15), (15, 15), (16, 30), (50, 60), (1440, 1440),
])
def test_work_is_billed_in_steps_of_15_minutes_drawn_from_prepaid_hours(api, acme, minutes, billed):
    prepay(api, acme, "developer", "30")

    work = logged(api, acme, minutes)

    assert work["billed_minutes"] == billed
    assert (work["prepaid_minutes_used"], work["overage_minutes"]) == (billed, 0)
    assert prepaid_minutes(api, acme) == 1800 - billed
    assert minute_entries(api, acme) == [(-billed, "charge")]


def test_a_work_log_shows_the_minutes_worked_beside_the_minutes_billed(api, acme):
    work = logged(api, acme, 50)

    assert (work["minutes"], work["billed_minutes"]) == (50, 60)


def test_work_beyond_the_prepaid_hours_is_overage(api, acme):
    prepay(api, acme, "developer", "1")

    work = logged(api, acme, 100)

    assert work["billed_minutes"] == 105
    assert work["prepaid_minutes_used"] == 60
    assert work["overage_minutes"] == 45
    assert prepaid_minutes(api, acme) == 0
    assert sorted(minute_entries(api, acme)) == [(-60, "charge"), (-45, "overage")]


def test_work_without_prepaid_hours_is_all_overage(api, acme):
    work = logged(api, acme, 50)

    assert work["billed_minutes"] == 60
    assert (work["prepaid_minutes_used"], work["overage_minutes"]) == (0, 60)
    assert prepaid_minutes(api, acme) == 0
    assert minute_entries(api, acme) == [(-60, "overage")]


def test_work_draws_only_on_its_own_roles_prepaid_hours(api, acme):
    prepay(api, acme, "analyst", "10")

    work = logged(api, acme, 30, role="developer")

    assert (work["prepaid_minutes_used"], work["overage_minutes"]) == (0, 30)
    assert prepaid_minutes(api, acme, "analyst") == 600


def test_successive_logs_use_up_the_prepaid_hours_and_then_run_over(api, acme):
    prepay(api, acme, "consultant", "2")

    results = [logged(api, acme, 50, role="consultant") for _ in range(3)]

    drawn = [(w["prepaid_minutes_used"], w["overage_minutes"]) for w in results]
    assert drawn == [(60, 0), (60, 0), (0, 60)]
    assert prepaid_minutes(api, acme, "consultant") == 0


def test_work_can_name_a_case_of_the_same_client(api, acme):
    case = open_case(api, acme)

    work = logged(api, acme, 45, case=case)

    assert (work["case"], work["kind"], work["billed_minutes"]) == (case, "work", 45)


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "role", "field"), [
    (0, "developer", "minutes"),
    (-5, "developer", "minutes"),
    (1441, "developer", "minutes"),
    (1.5, "developer", "minutes"),
    ("30", "developer", "minutes"),
    (30, "architect", "role"),
    (30, "Developer", "role"),
])
def test_bad_work_is_refused_naming_the_field_and_nothing_is_posted(
    api, acme, minutes, role, field
):
    prepay(api, acme, "developer", "10")

    response = log(api, acme, minutes, role=role)

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert prepaid_minutes(api, acme) == 600
    assert minute_entries(api, acme) == []


def test_work_on_another_clients_case_is_refused_and_nothing_is_posted(api, make_client, acme):
    make_client("OTHER")
    theirs = open_case(api, "OTHER")
    prepay(api, acme, "developer", "10")

    response = log(api, acme, 30, case=theirs)

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "case"
    assert prepaid_minutes(api, acme) == 600
    assert minute_entries(api, acme) == []
    assert minute_entries(api, "OTHER") == []


@pytest.mark.parametrize("role", ["finance", "client"])
def test_only_account_managers_log_work(api, make_token, acme, role):
    someone = api.as_(make_token(role, acme if role == "client" else None))

    response = log(someone, acme, 30)

    assert response.status_code == 403
    assert minute_entries(api, acme) == []
