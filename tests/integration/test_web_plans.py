"""The support-plans page: finance and admin see the plans with their calendar and targets, add a plan or
a new version, and see bad input beside the field; everyone else is turned away."""

from __future__ import annotations

import re

import pytest

from tests.helpers import browser_opener, form_fields, page_text, user_maker, words

PAGE = "/finance/support-plans"


@pytest.fixture
def browser_as(app, support_plans):
    return browser_opener(app, user_maker(app))


@pytest.fixture
def finance(browser_as):
    return browser_as("finance")


def filled(finance, **changes) -> dict:
    """The page's form, started from the standard plan, as a new plan ``extended`` with ``changes``."""
    fields = form_fields(finance.get(f"{PAGE}?from=standard"), PAGE)
    fields.update({"code": "extended", "name": "Extended hours", "effective_from": "2026-01-01",
                   "time_zone": "America/New_York", "holiday_country": "US", "holiday_subdivision": "",
                   "hours-0-days": "mon-fri", "hours-0-opens": "07:00", "hours-0-closes": "20:00"})
    fields.update(changes)
    return fields


def error_beside(response, name: str) -> str:
    """The error shown right under the field ``name`` (its id)."""
    found = re.search(rf'id="{re.escape(name)}"[^>]*>(?:[^<]*<option[^>]*>[^<]*</option>)*(?:\s*</select>)?\s*'
                      rf'<p class="error" id="{re.escape(name)}-error">([^<]*)</p>', page_text(response))
    assert found, f"no error beside {name}"
    return found[1]


def test_the_page_lists_the_seed_plans_with_their_calendar_and_targets(finance):
    page = words(finance.get(PAGE))

    for name in ("Standard (Workzoom)", "Premier (Workato)", "Professional (Workato)", "Around the clock (Zenput)"):
        assert name in page
    assert "mon-fri 08:00–18:00 · America/Toronto · public holidays of CA-ON" in page
    assert "major 1 business days 3 business days" in page
    assert "critical cases count every hour" in page


def test_the_form_adds_a_plan_that_the_page_then_lists(finance):
    form = filled(finance, **{"targets-3-respond_amount": "5", "targets-3-respond_unit": "business_days"})

    response = finance.post(PAGE, form)

    assert response.status_code == 302, words(response)
    page = words(finance.get(PAGE))
    assert "Version 1 of support plan extended is in force from 2026-01-01." in page
    assert "Extended hours (extended)" in page
    assert "mon-fri 07:00–20:00 · America/New_York · public holidays of US" in page
    assert "minor 5 business days 20 business days" in page


def test_a_new_version_starts_from_the_plan_in_force(finance):
    form = form_fields(finance.get(f"{PAGE}?from=premier"), PAGE)
    assert form["code"] == "premier" and form["hours-0-days"] == "mon-fri" and form["targets-0-respond_amount"] == "24"

    response = finance.post(PAGE, form | {"targets-0-respond_amount": "12"})

    assert response.status_code == 302, words(response)
    assert "Version 2 of support plan premier" in words(finance.get(PAGE))


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"hours-0-closes": "06:00"}, "hours-0-closes", "Closing time must come after opening time"),
    ({"time_zone": "Mars/Olympus"}, "time_zone", "not an IANA time zone"),
    ({"holiday_country": "XX"}, "holiday_country", "no public holidays are known"),
    ({"targets-1-respond_amount": "0"}, "targets-1-respond_amount", "greater than or equal to 1"),
    ({"targets-2-resolve_amount": "-2"}, "targets-2-resolve_amount", "greater than or equal to 1"),
    ({"targets-1-respond_unit": ""}, "targets-1-respond_unit", "Input should be"),
    ({"hours-1-days": "someday", "hours-1-opens": "09:00", "hours-1-closes": "10:00"}, "hours-1-days",
     "not a weekday"),
])
def test_bad_input_is_shown_beside_its_field_and_nothing_is_added(finance, changes, field, message):
    response = finance.post(PAGE, filled(finance, **changes))

    assert response.status_code == 422
    assert message.lower() in error_beside(response, field).lower()
    assert "Extended hours (extended)" not in words(finance.get(PAGE))


def test_several_mistakes_are_all_shown(finance):
    response = finance.post(PAGE, filled(finance, **{"hours-0-opens": "25:00", "targets-0-resolve_amount": "0"}))

    assert response.status_code == 422
    assert "HH:MM" in error_beside(response, "hours-0-opens")
    assert "greater than or equal to 1" in error_beside(response, "targets-0-resolve_amount")


def test_an_admin_sees_the_page(browser_as):
    assert browser_as("admin").get(PAGE).status_code == 200


@pytest.mark.parametrize("role", ["account_manager", "client"])
def test_other_roles_are_turned_away(browser_as, make_client, role):
    make_client("ACME")
    browser = browser_as(role, "ACME" if role == "client" else None)

    assert browser.get(PAGE).status_code in (403, 404)
    assert browser.post(PAGE, {"code": "sneaky"}).status_code in (403, 404)


def test_the_clients_plan_is_shown_beside_its_balance(browser_as, make_client, api):
    make_client("ACME")
    api.send("PATCH", "/clients/ACME", {"support_plan": "premier"})

    manager = words(browser_as("account_manager").get("/clients/ACME"))
    portal = words(browser_as("client", "ACME").get("/portal/"))

    assert "Support plan Premier (Workato)" in manager
    assert "Support plan Premier (Workato)" in portal
