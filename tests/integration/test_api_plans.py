"""Support plans as data through the JSON API: finance adds plans and new versions; clients change plan."""

from __future__ import annotations

import copy

import pytest

EXTENDED = {
    "code": "extended", "name": "Extended hours", "time_zone": "America/New_York",
    "effective_from": "2026-01-01",
    "hours": [{"days": "mon-fri", "opens": "07:00", "closes": "20:00"},
              {"days": "sat", "opens": "22:00", "closes": "04:00", "closes_next_day": True}],
    "holiday_country": "US", "holiday_subdivision": "NY", "closures": ["2026-12-24"],
    "clocks_start_in_business_hours": True, "every_hour_for_critical": False,
    "targets": [{"severity": "critical", "respond": {"amount": 1, "unit": "hours"},
                 "resolve": {"amount": 8, "unit": "hours"}},
                {"severity": "major", "respond": {"amount": 4, "unit": "business_hours"},
                 "resolve": {"amount": 2, "unit": "business_days"}},
                {"severity": "moderate", "respond": {"amount": 1, "unit": "business_days"}, "resolve": None},
                {"severity": "minor", "respond": None, "resolve": None}],
}


@pytest.fixture
def seeded(support_plans):
    """The support plans `ledger init` seeds."""


@pytest.fixture
def finance(api, make_token):
    return api.as_(make_token("finance"))


def plans(api) -> dict:
    return {plan["code"]: plan for plan in api.get("/support-plans").get_json()["items"]}


def changed(path: str, value) -> dict:
    """EXTENDED with the value at ``path`` (``targets.1.respond.amount``) replaced."""
    body = copy.deepcopy(EXTENDED)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


def test_finance_adds_a_plan_with_its_calendar_and_targets(finance, seeded):
    response = finance.post("/support-plans", EXTENDED)

    assert response.status_code == 201, response.get_json()
    plan = response.get_json()
    assert plan["code"] == "extended" and plan["version"] == 1 and plan["effective_from"] == "2026-01-01"
    assert plan["hours"] == [{"days": "mon-fri", "opens": "07:00", "closes": "20:00", "closes_next_day": False},
                             {"days": "sat", "opens": "22:00", "closes": "04:00", "closes_next_day": True}]
    assert (plan["holiday_country"], plan["holiday_subdivision"]) == ("US", "NY")
    assert plan["closures"] == ["2026-12-24"] and plan["clocks_start_in_business_hours"] is True
    assert plan["targets"] == EXTENDED["targets"]
    assert plans(finance)["extended"]["targets"] == EXTENDED["targets"]


def test_a_later_effective_from_adds_a_new_version_and_an_earlier_one_is_refused(finance, seeded):
    finance.post("/support-plans", EXTENDED)
    later = changed("targets.0.respond.amount", 2) | {"effective_from": "2026-02-01"}

    second = finance.post("/support-plans", later)
    again = finance.post("/support-plans", later | {"effective_from": "2026-01-15"})

    assert second.status_code == 201 and second.get_json()["version"] == 2
    assert plans(finance)["extended"]["targets"][0]["respond"] == {"amount": 2, "unit": "hours"}
    assert again.status_code == 422 and again.get_json()["error"]["field"] == "effective_from"


def test_the_seed_plans_list_their_calendar(api, seeded):
    standard = plans(api)["standard"]

    assert standard["hours"] == [{"days": "mon-fri", "opens": "08:00", "closes": "18:00", "closes_next_day": False}]
    assert (standard["holiday_country"], standard["holiday_subdivision"]) == ("CA", "ON")
    assert plans(api)["around_the_clock"]["every_hour_for_critical"] is True


@pytest.mark.parametrize(("path", "value", "field"), [
    ("hours.0.closes", "06:00", "hours[0].closes"),
    ("hours.0.closes", "07:00", "hours[0].closes"),
    ("hours.0.opens", "25:00", "hours[0].opens"),
    ("hours.1.days", "sat-funday", "hours[1].days"),
    ("time_zone", "America/Atlantis", "time_zone"),
    ("holiday_country", "XX", "holiday_country"),
    ("holiday_subdivision", "ZZ", "holiday_subdivision"),
    ("targets.1.respond.unit", "fortnights", "targets[1].respond.unit"),
    ("targets.1.respond.amount", 0, "targets[1].respond.amount"),
    ("targets.2.respond.amount", -3, "targets[2].respond.amount"),
    ("targets.3.severity", "catastrophic", "targets[3].severity"),
    ("targets.3.severity", "major", "targets[3].severity"),
    ("closures.0", "2026-02-30", "closures[0]"),
    ("code", "Extended Hours", "code"),
    ("effective_from", "soon", "effective_from"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(finance, seeded, path, value, field):
    response = finance.post("/support-plans", changed(path, value))

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field
    assert "extended" not in plans(finance)


def test_overlapping_hours_are_refused(finance, seeded):
    body = changed("hours.1", {"days": "fri", "opens": "19:00", "closes": "21:00"})

    response = finance.post("/support-plans", body)

    assert response.status_code == 422 and response.get_json()["error"]["field"] == "hours"


@pytest.mark.parametrize("role", ["account_manager", "client"])
def test_only_finance_and_admin_add_plans(api, make_token, make_client, seeded, role):
    make_client("ACME")
    response = api.as_(make_token(role, "ACME" if role == "client" else None)).post("/support-plans", EXTENDED)

    assert response.status_code == 403
    assert "extended" not in plans(api)


def test_an_admin_adds_a_plan(api, make_token, seeded):
    assert api.as_(make_token("admin")).post("/support-plans", EXTENDED).status_code == 201


def test_a_client_is_moved_to_another_plan_and_an_unknown_plan_is_refused(api, make_client, rate_card, seeded):
    make_client("ACME")

    moved = api.send("PATCH", "/clients/ACME", {"support_plan": "premier"})
    unknown = api.send("PATCH", "/clients/ACME", {"support_plan": "platinum", "payment_terms_days": 10})

    assert moved.status_code == 200 and moved.get_json()["support_plan"] == "premier"
    assert unknown.status_code == 422 and unknown.get_json()["error"]["field"] == "support_plan"
    client = api.get("/clients/ACME").get_json()
    assert client["support_plan"] == "premier" and client["payment_terms_days"] != 10
