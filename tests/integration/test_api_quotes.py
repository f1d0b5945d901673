"""The rate card and quotes through the JSON API: pricing, discounts, the state machine, access."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.helpers import both_engines


def line(role: str, unit: str, quantity) -> dict:
    return {"role": role, "unit": unit, "quantity": quantity}


#: SPEC.md's example: 16 + 40 = 56 hours, subtotal 7400.00, 5 % off, total 7030.00
SAMPLE = [line("analyst", "day", "2"), line("developer", "hour", "40")]
#: what accepting SAMPLE leaves in the balance
SAMPLE_MINUTES = {"analyst": {"available_minutes": 960}, "developer": {"available_minutes": 2400}}


def today() -> date:
    return datetime.now(UTC).date()


def in_days(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


def quote_body(lines: list[dict], valid_until: str | None = None) -> dict:
    return {"lines": lines, "valid_until": valid_until or in_days(30)}


def new_quote(api, code: str, lines: list[dict] = SAMPLE) -> dict:
    response = api.post(f"/clients/{code}/quotes", quote_body(lines))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def move(api, number: str, action: str):
    return api.post(f"/quotes/{number}/{action}")


def sent_quote(api, code: str, lines: list[dict] = SAMPLE) -> dict:
    quote = new_quote(api, code, lines)
    response = move(api, quote["number"], "send")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def hours(api, code: str) -> dict:
    return api.get(f"/clients/{code}/balance").get_json()["hours"]


def quote_numbers(api, code: str) -> list[str]:
    return [q["number"] for q in api.get(f"/clients/{code}/quotes").get_json()["items"]]


def priced(quote: dict) -> list[tuple[str, str]]:
    """Each line's (unit_price, amount)."""
    return [(ln["unit_price"], ln["amount"]) for ln in quote["lines"]]


def totals(quote: dict) -> tuple[str, str, str]:
    return quote["subtotal"], quote["discount"], quote["total"]


def error(response) -> dict:
    return response.get_json()["error"]


def expired_quote(app, code: str) -> str:
    """A quote sent early in 2025 and valid only through January 2025, made through the services."""
    from ledger.billing import QuoteLineRequest
    from ledger.extensions import db
    from ledger.models import Client
    from ledger.services.quotes import create_quote, send_quote

    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == code))
        lines = [QuoteLineRequest("developer", "hour", Decimal(10))]
        quote = create_quote(db.session, client, lines, date(2025, 1, 31), today=date(2025, 1, 2))
        send_quote(db.session, quote, today=date(2025, 1, 3))
        db.session.commit()
        return quote.number


@pytest.fixture
def acme(make_client, rate_card):
    """A USD client on the seed rate card."""
    make_client("ACME")
    return "ACME"


@pytest.fixture
def finance(api, make_token):
    return api.as_(make_token("finance"))


# --- the rate card -------------------------------------------------------------------


def test_the_seed_rate_card_has_the_spec_prices_and_tiers(api, rate_card):
    card = api.get("/rate-card").get_json()

    assert {r["code"]: (r["hourly"], r["daily"]) for r in card["roles"]} == {
        "analyst": ("150.00", "1200.00"),
        "consultant": ("125.00", "1000.00"),
        "developer": ("125.00", "1000.00"),
    }
    assert card["volume_discounts"] == [
        {"min_hours": 40, "percent": "5"},
        {"min_hours": 80, "percent": "10"},
        {"min_hours": 160, "percent": "15"},
    ]


def role(code: str, title: str, hourly: str, daily: str) -> dict:
    return {"code": code, "title": title, "hourly": hourly, "daily": daily}


def card_body(**overrides) -> dict:
    """A rate card 20 % dearer than the seed card, in force from today."""
    body = {
        "currency": "USD",
        "effective_from": today().isoformat(),
        "incident_price": "240.00",
        "overage_price": "300.00",
        "maintenance_fee": "0.00",
        "roles": [
            role("analyst", "Project Coordinator / Business Analyst", "180.00", "1440.00"),
            role("consultant", "Implementation Specialist / Consultant", "150.00", "1200.00"),
            role("developer", "Programmer Analyst / Developer", "150.00", "1200.00"),
        ],
        "volume_discounts": [{"min_hours": 40, "percent": "5"}, {"min_hours": 80, "percent": "10"}],
    }
    body.update(overrides)
    return body


def test_a_new_rate_card_version_leaves_an_earlier_quote_unchanged(api, finance, acme):
    before = new_quote(api, acme)

    posted = finance.post("/rate-card", card_body())

    assert posted.status_code == 201, posted.get_json()
    assert posted.get_json()["version"] == 2
    old = api.get(f"/quotes/{before['number']}").get_json()
    assert priced(old) == [("1200.00", "2400.00"), ("125.00", "5000.00")]
    assert totals(old) == ("7400.00", "370.00", "7030.00")
    assert old["rate_card_version"] == 1


def test_a_quote_made_after_a_new_rate_card_version_uses_its_prices(api, finance, acme):
    finance.post("/rate-card", card_body())

    after = new_quote(api, acme)

    assert priced(after) == [("1440.00", "2880.00"), ("150.00", "6000.00")]
    assert totals(after) == ("8880.00", "444.00", "8436.00")
    assert after["rate_card_version"] == 2


def test_accepting_an_old_quote_after_a_price_rise_credits_its_own_hours(api, finance, acme):
    quote = sent_quote(api, acme)
    finance.post("/rate-card", card_body())

    accepted = move(api, quote["number"], "accept").get_json()

    assert accepted["total"] == "7030.00"
    assert hours(api, acme) == SAMPLE_MINUTES


def test_the_maintenance_fee_may_be_left_out_of_a_new_rate_card(finance, rate_card):
    body = card_body()
    del body["maintenance_fee"]

    response = finance.post("/rate-card", body)

    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert (response.get_json()["version"], response.get_json()["maintenance_fee"]) == (2, "0.00")


def test_a_rate_card_effective_in_the_future_does_not_price_todays_quotes(api, finance, acme):
    finance.post("/rate-card", card_body(effective_from=in_days(10)))

    quote = new_quote(api, acme, [line("analyst", "hour", "1")])

    assert (quote["rate_card_version"], quote["lines"][0]["unit_price"]) == (1, "150.00")


def test_a_second_version_effective_the_same_day_is_refused_naming_the_date(api, finance, acme):
    response = finance.post("/rate-card", card_body(effective_from="2020-01-01"))

    assert response.status_code in (409, 422)
    assert error(response)["field"] == "effective_from"
    card = api.get("/rate-card").get_json()
    assert (card["version"], card["roles"][0]["hourly"]) == (1, "150.00")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"currency": "XYZ"}, "currency"),
    ({"currency": "usd"}, "currency"),
    ({"incident_price": "-1.00"}, "incident_price"),
    ({"overage_price": "-0.01"}, "overage_price"),
    ({"roles": [role("analyst", "Analyst", "-150.00", "1200.00")]}, "roles[0].hourly"),
    ({"roles": [role("analyst", "Analyst", "150.00", "-1200.00")]}, "roles[0].daily"),
    ({"roles": [role("analyst", "Analyst", "150.001", "1200.00")]}, "roles[0].hourly"),
    ({"volume_discounts": [{"min_hours": 40, "percent": "-5"}]}, "volume_discounts[0].percent"),
])
def test_a_bad_rate_card_is_refused_naming_the_field_and_nothing_is_posted(
    api, finance, rate_card, overrides, field
):
    response = finance.post("/rate-card", card_body(**overrides))

    assert response.status_code == 422
    assert error(response)["field"] == field
    card = api.get("/rate-card").get_json()
    assert (card["version"], card["roles"][0]["hourly"]) == (1, "150.00")


def test_only_finance_maintains_the_rate_card(api, acme):
    response = api.post("/rate-card", card_body())

    assert response.status_code == 403
    assert api.get("/rate-card").get_json()["version"] == 1


# --- pricing through the API ---------------------------------------------------------


def test_each_role_is_priced_per_hour_and_per_day(api, acme):
    lines = [line(code, unit, "2")
             for code in ("analyst", "consultant", "developer") for unit in ("hour", "day")]

    quote = new_quote(api, acme, lines)

    assert [(ln["role"], ln["unit"], ln["quantity"]) + p
            for ln, p in zip(quote["lines"], priced(quote))] == [
        ("analyst", "hour", "2", "150.00", "300.00"),
        ("analyst", "day", "2", "1200.00", "2400.00"),
        ("consultant", "hour", "2", "125.00", "250.00"),
        ("consultant", "day", "2", "1000.00", "2000.00"),
        ("developer", "hour", "2", "125.00", "250.00"),
        ("developer", "day", "2", "1000.00", "2000.00"),
    ]
    assert (quote["hours_total"], quote["subtotal"]) == ("54", "7200.00")


@pytest.mark.parametrize(("quantity", "percent", "discount", "total"), [
    ("39.75", "0", "0.00", "4968.75"),
    ("40", "5", "250.00", "4750.00"),
    ("79.75", "5", "498.44", "9470.31"),  # 9968.75 × 5 % = 498.4375
    ("80", "10", "1000.00", "9000.00"),
    ("159.75", "10", "1996.88", "17971.87"),  # 19968.75 × 10 % = 1996.875, half-up
    ("160", "15", "3000.00", "17000.00"),
])
def test_discount_tiers_start_exactly_at_40_80_and_160_hours(
    api, acme, quantity, percent, discount, total
):
    quote = new_quote(api, acme, [line("developer", "hour", quantity)])

    assert (quote["hours_total"], quote["discount_percent"]) == (quantity, percent)
    assert (quote["discount"], quote["total"], quote["currency"]) == (discount, total, "USD")


def test_a_quote_in_euros_is_priced_from_the_euro_card(api, make_client, rate_card):
    make_client("EURO", currency="EUR", locale="de_DE")

    quote = new_quote(api, "EURO")

    assert (quote["currency"], quote["total"]) == ("EUR", "7030.00")


# --- accepting -----------------------------------------------------------------------


@both_engines
def test_accepting_a_quote_credits_prepaid_minutes_per_role(api, acme):
    quote = sent_quote(api, acme)
    assert quote["discount_percent"] == "5"
    assert totals(quote) == ("7400.00", "370.00", "7030.00")
    assert hours(api, acme) == {}

    response = move(api, quote["number"], "accept")

    assert response.status_code == 200, response.get_json()
    accepted = response.get_json()
    assert accepted["state"] == "accepted"
    assert accepted["decided_at"] is not None
    assert totals(accepted) == ("7400.00", "370.00", "7030.00")
    assert hours(api, acme) == SAMPLE_MINUTES
    entries = api.get(f"/clients/{acme}/entries").get_json()["items"]
    assert sorted((e["unit"], e["quantity"], e["kind"]) for e in entries) == [
        ("minute", 960, "purchase"), ("minute", 2400, "purchase"),
    ]


def test_two_accepted_quotes_add_up_per_role(api, acme):
    move(api, sent_quote(api, acme)["number"], "accept")
    move(api, sent_quote(api, acme, [line("developer", "day", "1")])["number"], "accept")

    assert hours(api, acme)["developer"] == {"available_minutes": 2400 + 480}


def test_accepting_twice_is_a_conflict_and_credits_once(api, acme):
    number = sent_quote(api, acme)["number"]
    move(api, number, "accept")

    again = move(api, number, "accept")

    assert again.status_code == 409
    assert error(again)["code"] == "conflict"
    assert hours(api, acme) == SAMPLE_MINUTES


def test_an_accept_retried_with_the_same_idempotency_key_credits_once(api, acme):
    number = sent_quote(api, acme)["number"]
    key = {"Idempotency-Key": "accept-once"}

    first = api.post(f"/quotes/{number}/accept", headers=key)
    second = api.post(f"/quotes/{number}/accept", headers=key)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json() == first.get_json()
    assert hours(api, acme) == SAMPLE_MINUTES


def test_accepting_an_expired_quote_is_a_conflict_and_credits_nothing(app, api, acme):
    number = expired_quote(app, acme)
    assert api.get(f"/quotes/{number}").get_json()["state"] == "expired"

    response = move(api, number, "accept")

    assert response.status_code == 409
    assert error(response)["code"] == "conflict"
    assert hours(api, acme) == {}
    assert api.get(f"/quotes/{number}").get_json()["state"] == "expired"


# --- the state machine through the API -----------------------------------------------

#: the moves the API allows; every other (state, action) answers 409
API_MOVES = {
    ("draft", "send"): "sent",
    ("sent", "accept"): "accepted",
    ("sent", "decline"): "declined",
}
DECIDING = {"accepted": "accept", "declined": "decline"}


def quote_in_state(app, api, code: str, state: str) -> str:
    if state == "expired":
        return expired_quote(app, code)
    number = new_quote(api, code, [line("consultant", "hour", "4")])["number"]
    if state != "draft":
        assert move(api, number, "send").status_code == 200
    if state in DECIDING:
        assert move(api, number, DECIDING[state]).status_code == 200
    return number


@pytest.mark.parametrize("action", ["send", "accept", "decline"])
@pytest.mark.parametrize("state", ["draft", "sent", "accepted", "declined", "expired"])
def test_every_quote_action_in_every_state_moves_or_answers_409(app, api, acme, state, action):
    number = quote_in_state(app, api, acme, state)
    minutes_before = hours(api, acme)

    response = move(api, number, action)

    if (state, action) in API_MOVES:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["state"] == API_MOVES[(state, action)]
    else:
        assert response.status_code == 409, response.get_json()
        assert error(response)["code"] == "conflict"
        assert api.get(f"/quotes/{number}").get_json()["state"] == state
        assert hours(api, acme) == minutes_before


# --- who may do what -----------------------------------------------------------------


def test_a_client_user_cannot_see_a_draft(api, make_token, acme):
    draft = new_quote(api, acme)["number"]
    portal = api.as_(make_token("client", acme))

    assert portal.get(f"/quotes/{draft}").status_code == 404
    assert quote_numbers(portal, acme) == []
    assert portal.post(f"/quotes/{draft}/accept").status_code == 404
    assert api.get(f"/quotes/{draft}").get_json()["state"] == "draft"


def test_a_client_user_sees_and_accepts_its_own_sent_quote(api, make_token, acme):
    number = sent_quote(api, acme)["number"]
    portal = api.as_(make_token("client", acme))
    assert quote_numbers(portal, acme) == [number]
    assert portal.get(f"/quotes/{number}").get_json()["total"] == "7030.00"

    response = portal.post(f"/quotes/{number}/accept")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "accepted"
    assert hours(portal, acme) == SAMPLE_MINUTES


def test_a_client_user_declines_its_own_sent_quote(api, make_token, acme):
    number = sent_quote(api, acme)["number"]
    portal = api.as_(make_token("client", acme))

    response = portal.post(f"/quotes/{number}/decline")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "declined"
    assert hours(api, acme) == {}


def test_a_client_user_cannot_accept_another_clients_quote(api, make_token, make_client, acme):
    make_client("OTHER")
    theirs = sent_quote(api, "OTHER")["number"]
    portal = api.as_(make_token("client", acme))

    assert portal.get(f"/quotes/{theirs}").status_code == 404
    assert portal.get("/clients/OTHER/quotes").status_code == 404
    response = portal.post(f"/quotes/{theirs}/accept")

    assert response.status_code == 404
    assert api.get(f"/quotes/{theirs}").get_json()["state"] == "sent"
    assert hours(api, "OTHER") == {}


def test_a_client_user_cannot_create_or_send_quotes(api, make_token, acme):
    draft = new_quote(api, acme)["number"]
    sent = sent_quote(api, acme)["number"]
    portal = api.as_(make_token("client", acme))

    created = portal.post(f"/clients/{acme}/quotes", quote_body(SAMPLE))

    assert created.status_code == 403
    assert portal.post(f"/quotes/{sent}/send").status_code == 403
    assert quote_numbers(api, acme) == [draft, sent]


def test_finance_can_accept_a_quote(api, finance, acme):
    number = sent_quote(api, acme)["number"]

    response = finance.post(f"/quotes/{number}/accept")

    assert response.status_code == 200, response.get_json()
    assert hours(api, acme) == SAMPLE_MINUTES


def test_finance_cannot_create_a_quote(api, finance, acme):
    response = finance.post(f"/clients/{acme}/quotes", quote_body(SAMPLE))

    assert response.status_code == 403
    assert quote_numbers(api, acme) == []


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(("lines", "field"), [
    ([line("architect", "hour", "1")], "lines[0].role"),
    ([line("developer", "hour", "1"), line("dba", "day", "1")], "lines[1].role"),
    ([line("developer", "week", "1")], "lines[0].unit"),
    ([line("developer", "hour", "0")], "lines[0].quantity"),
    ([line("developer", "hour", "-4")], "lines[0].quantity"),
    ([line("developer", "day", -1)], "lines[0].quantity"),
    ([line("developer", "hour", "0.3")], "lines[0].quantity"),
    ([line("analyst", "day", "1"), line("developer", "hour", 2.1)], "lines[1].quantity"),
    ([line("developer", "hour", "many")], "lines[0].quantity"),
    ([], "lines"),
])
def test_a_quote_with_a_bad_line_is_refused_naming_the_field(api, acme, lines, field):
    response = api.post(f"/clients/{acme}/quotes", quote_body(lines))

    assert response.status_code == 422
    assert error(response)["field"] == field
    assert quote_numbers(api, acme) == []


@pytest.mark.parametrize(("days", "status"), [(-1, 422), (0, 201), (1, 201)])
def test_a_quote_cannot_be_valid_until_a_day_in_the_past(api, acme, days, status):
    response = api.post(f"/clients/{acme}/quotes", quote_body(SAMPLE, in_days(days)))

    assert response.status_code == status
    if status == 422:
        assert error(response)["field"] == "valid_until"
        assert quote_numbers(api, acme) == []


def test_an_unknown_quote_number_is_404(api, acme):
    assert api.get("/quotes/Q-2026-99999").status_code == 404
    assert move(api, "Q-2026-99999", "accept").status_code == 404
