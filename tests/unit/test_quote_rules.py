"""The quote rules of SPEC.md, pure: line prices, volume discounts, totals and the state machine."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from ledger.billing import (
    InvalidTransition,
    QuoteLineRequest,
    RolePrice,
    RuleViolation,
    discount_percent,
    price_quote,
    quote_state_on,
    quote_transition,
)

D = Decimal
#: SPEC.md's seed rate card: role → (hourly, daily)
SEED_PRICES = {
    "analyst": RolePrice(D("150.00"), D("1200.00")),
    "consultant": RolePrice(D("125.00"), D("1000.00")),
    "developer": RolePrice(D("125.00"), D("1000.00")),
}
#: SPEC.md's seed tiers: 40 h → 5 %, 80 h → 10 %, 160 h → 15 %
SEED_TIERS = ((40, D(5)), (80, D(10)), (160, D(15)))


def line(role: str, unit: str, quantity: str) -> QuoteLineRequest:
    return QuoteLineRequest(role, unit, D(quantity))


def price(*lines: QuoteLineRequest, prices=SEED_PRICES, tiers=SEED_TIERS):
    return price_quote(lines, prices, tiers)


# --- line amounts --------------------------------------------------------------------


@pytest.mark.parametrize(("role", "unit", "quantity", "unit_price", "amount", "minutes"), [
    ("analyst", "hour", "1", "150.00", "150.00", 60),
    ("analyst", "hour", "2.5", "150.00", "375.00", 150),
    ("analyst", "day", "1", "1200.00", "1200.00", 480),
    ("analyst", "day", "2", "1200.00", "2400.00", 960),
    ("consultant", "hour", "0.25", "125.00", "31.25", 15),
    ("consultant", "hour", "8", "125.00", "1000.00", 480),
    ("consultant", "day", "0.5", "1000.00", "500.00", 240),
    ("consultant", "day", "3", "1000.00", "3000.00", 1440),
    ("developer", "hour", "40", "125.00", "5000.00", 2400),
    ("developer", "hour", "1.75", "125.00", "218.75", 105),
    ("developer", "day", "1.25", "1000.00", "1250.00", 600),
    ("developer", "day", "5", "1000.00", "5000.00", 2400),
])
def test_a_line_is_priced_per_hour_or_per_day_from_the_card(
    role, unit, quantity, unit_price, amount, minutes
):
    (priced,) = price(line(role, unit, quantity)).lines

    assert priced.unit_price == D(unit_price)
    assert priced.amount == D(amount)
    assert priced.minutes == minutes


def test_a_line_amount_is_rounded_half_up_to_the_cent():
    prices = {"analyst": RolePrice(D("150.02"), D("1200.00"))}

    (priced,) = price(line("analyst", "hour", "0.25"), prices=prices).lines

    assert priced.amount == D("37.51")  # 37.505


def test_a_day_counts_as_eight_hours_in_the_hours_total():
    quote = price(line("analyst", "day", "2"), line("developer", "hour", "3"))

    assert quote.minutes_total == (16 + 3) * 60


# --- volume discounts ----------------------------------------------------------------


@pytest.mark.parametrize(("hours", "percent"), [
    ("0.25", 0),
    ("39.75", 0),
    ("40", 5),
    ("79.75", 5),
    ("80", 10),
    ("159.75", 10),
    ("160", 15),
    ("1000", 15),
])
def test_the_discount_is_the_highest_tier_reached_by_the_hours_bought(hours, percent):
    quote = price(line("developer", "hour", hours))

    assert quote.discount_percent == percent
    assert discount_percent(D(hours), SEED_TIERS) == percent


def test_days_count_toward_the_discount_tiers_as_eight_hours_each():
    assert price(line("consultant", "day", "4.75")).discount_percent == 0  # 38 h
    assert price(line("consultant", "day", "5")).discount_percent == 5  # 40 h
    assert price(line("consultant", "day", "10")).discount_percent == 10  # 80 h


def test_hours_of_every_line_add_up_toward_a_tier():
    quote = price(
        line("analyst", "hour", "20"),
        line("consultant", "hour", "12"),
        line("developer", "day", "1"),
    )

    assert quote.discount_percent == 5


def test_tiers_given_in_any_order_still_pick_the_highest_reached():
    tiers = ((160, D(15)), (40, D(5)), (80, D(10)))

    assert discount_percent(D(100), tiers) == 10


def test_a_card_without_tiers_gives_no_discount():
    quote = price(line("developer", "hour", "500"), tiers=())

    assert (quote.discount_percent, quote.discount) == (0, 0)
    assert quote.total == quote.subtotal == D("62500.00")


# --- totals --------------------------------------------------------------------------


def test_two_analyst_days_and_forty_developer_hours_total_7030():
    quote = price(line("analyst", "day", "2"), line("developer", "hour", "40"))

    assert [p.amount for p in quote.lines] == [D("2400.00"), D("5000.00")]
    assert quote.minutes_total == 56 * 60
    assert quote.subtotal == D("7400.00")
    assert quote.discount_percent == 5
    assert quote.discount == D("370.00")
    assert quote.total == D("7030.00")


def test_the_discount_is_rounded_half_up_to_the_cent():
    prices = {
        "developer": RolePrice(D("100.00"), D("800.00")),
        "analyst": RolePrice(D("0.40"), D("3.20")),
    }

    quote = price(line("developer", "hour", "40"), line("analyst", "hour", "0.25"), prices=prices)

    assert quote.subtotal == D("4000.10")
    assert quote.discount == D("200.01")  # 200.005, half-up (half-even would say 200.00)
    assert quote.total == D("3800.09")


def test_total_is_subtotal_minus_discount_for_every_tier():
    for hours in ("10", "45.5", "99.25", "170.75"):
        quote = price(line("analyst", "hour", hours))
        assert quote.total == quote.subtotal - quote.discount
        exact = quote.subtotal * quote.discount_percent / 100
        assert quote.discount == exact.quantize(D("0.01"), rounding=ROUND_HALF_UP)


# --- refused lines -------------------------------------------------------------------


@pytest.mark.parametrize(("lines", "field"), [
    ([line("architect", "hour", "1")], "lines[0].role"),
    ([line("developer", "hour", "1"), line("Developer", "day", "1")], "lines[1].role"),
    ([line("developer", "hour", "0")], "lines[0].quantity"),
    ([line("developer", "hour", "-1")], "lines[0].quantity"),
    ([line("developer", "day", "-0.25")], "lines[0].quantity"),
    ([line("developer", "hour", "0.3")], "lines[0].quantity"),
    ([line("analyst", "day", "1"), line("developer", "hour", "1.1")], "lines[1].quantity"),
    ([], "lines"),
])
def test_a_quote_with_a_bad_line_is_refused_naming_the_field(lines, field):
    with pytest.raises(RuleViolation) as refused:
        price(*lines)

    assert refused.value.field == field


# --- the state machine ---------------------------------------------------------------

STATES = ("draft", "sent", "accepted", "declined", "expired")
ACTIONS = ("send", "accept", "decline", "expire")
#: SPEC.md: draft → sent → accepted | declined | expired; an open quote can expire
ALLOWED = {
    ("draft", "send"): "sent",
    ("draft", "expire"): "expired",
    ("sent", "accept"): "accepted",
    ("sent", "decline"): "declined",
    ("sent", "expire"): "expired",
}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", STATES)
def test_every_state_and_action_either_moves_as_the_spec_says_or_is_refused(state, action):
    if (state, action) in ALLOWED:
        assert quote_transition(state, action) == ALLOWED[(state, action)]
    else:
        with pytest.raises(InvalidTransition) as refused:
            quote_transition(state, action)
        assert refused.value.field == "state"
        assert state in refused.value.message


def test_a_draft_cannot_be_accepted_before_it_is_sent():
    with pytest.raises(InvalidTransition, match="a draft quote cannot be accepted"):
        quote_transition("draft", "accept")


@pytest.mark.parametrize(("state", "today", "seen"), [
    ("draft", date(2026, 3, 31), "draft"),
    ("draft", date(2026, 4, 1), "expired"),
    ("sent", date(2026, 3, 31), "sent"),
    ("sent", date(2026, 4, 1), "expired"),
    ("accepted", date(2027, 1, 1), "accepted"),
    ("declined", date(2027, 1, 1), "declined"),
    ("expired", date(2026, 1, 1), "expired"),
])
def test_an_open_quote_expires_the_day_after_its_validity_date(state, today, seen):
    assert quote_state_on(state, date(2026, 3, 31), today) == seen
