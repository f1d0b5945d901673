"""Properties of the billing rules that must hold for any lots, charges, durations and dates."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.billing import (
    POLICY,
    InsufficientIncidents,
    LotBalance,
    allocate,
    appointment_incidents,
    fifo_order,
    next_term,
    rollover,
    term_containing,
)
from tests.helpers import examples

PROPERTY = settings(max_examples=examples(200), deadline=None)

TODAY = date(2026, 6, 15)
days_around_today = st.integers(min_value=-400, max_value=400).map(
    lambda offset: TODAY + timedelta(days=offset)
)


@st.composite
def lots(draw, max_size: int = 8) -> list[LotBalance]:
    """Lots with distinct ids, some already expired, not yet started, empty or never expiring."""
    count = draw(st.integers(min_value=0, max_value=max_size))
    result = []
    for lot_id in range(1, count + 1):
        starts_on = draw(days_around_today)
        lasts = draw(st.none() | st.integers(min_value=0, max_value=400))
        expires_on = None if lasts is None else starts_on + timedelta(days=lasts)
        result.append(LotBalance(
            id=lot_id,
            remaining=draw(st.integers(min_value=0, max_value=60)),
            starts_on=starts_on,
            expires_on=expires_on,
            sequence=draw(st.integers(min_value=0, max_value=5)),
        ))
    return draw(st.permutations(result))


charges = st.integers(min_value=0, max_value=300)
policies = st.sampled_from(["bill", "block"])


def comes_first(a: LotBalance, b: LotBalance) -> bool:
    """Whether lot ``a`` pays before ``b``: it expires earlier, or the same day but is older."""
    a_expires, b_expires = a.expires_on or date.max, b.expires_on or date.max
    return a_expires < b_expires or (a_expires == b_expires and a.sequence < b.sequence)


def can_pay_on(lot: LotBalance, day: date) -> bool:
    """Whether ``lot`` has something left, has started and has not expired on ``day``."""
    return lot.remaining > 0 and lot.starts_on <= day and (lot.expires_on or date.max) >= day


def usable_balance(lot_list: list[LotBalance], on: date) -> int:
    return sum(lot.remaining for lot in lot_list if can_pay_on(lot, on))


# --- allocate ----------------------------------------------------------------------


@PROPERTY
@given(lots(), charges, days_around_today, policies)
def test_a_charge_never_draws_more_than_a_usable_lot_holds(lot_list, quantity, on, policy):
    by_id = {lot.id: lot for lot in lot_list}
    try:
        allocation = allocate(lot_list, quantity, on, policy)
    except InsufficientIncidents:
        return
    drawn_ids = [draw.lot_id for draw in allocation.draws]
    assert len(drawn_ids) == len(set(drawn_ids))
    for draw in allocation.draws:
        lot = by_id[draw.lot_id]
        assert can_pay_on(lot, on)
        assert 0 < draw.quantity <= lot.remaining


@PROPERTY
@given(lots(), charges, days_around_today, policies)
def test_a_charge_is_drawn_plus_overage_and_overage_only_past_the_usable_balance(
    lot_list, quantity, on, policy
):
    available = usable_balance(lot_list, on)
    try:
        allocation = allocate(lot_list, quantity, on, policy)
    except InsufficientIncidents as refused:
        assert policy == "block"
        assert quantity > available
        assert (refused.needed, refused.available) == (quantity, available)
        return
    assert allocation.total == quantity
    assert allocation.overage == max(0, quantity - available)
    if policy == "block":
        assert allocation.overage == 0


@PROPERTY
@given(lots(), charges, days_around_today, policies)
def test_no_later_lot_is_touched_while_an_earlier_usable_lot_has_something_left(
    lot_list, quantity, on, policy
):
    try:
        allocation = allocate(lot_list, quantity, on, policy)
    except InsufficientIncidents:
        return
    drawn = {draw.lot_id: draw.quantity for draw in allocation.draws}
    usable = [lot for lot in lot_list if can_pay_on(lot, on)]
    for earlier in usable:
        for later in usable:
            if drawn.get(later.id) and comes_first(earlier, later):
                assert drawn.get(earlier.id) == earlier.remaining, (earlier, later)


@PROPERTY
@given(lots(), days_around_today)
def test_fifo_order_puts_earlier_expiry_first_then_earlier_creation(lot_list, on):
    ordered = fifo_order(lot_list)
    keys = [(lot.expires_on or date.max, lot.sequence) for lot in ordered]
    assert keys == sorted(keys)


# --- rollover ----------------------------------------------------------------------


@PROPERTY
@given(lots())
def test_rollover_fills_the_cap_oldest_first_and_every_unused_incident_rolls_or_expires(lot_list):
    closing = rollover(lot_list)
    unused = sum(lot.remaining for lot in lot_list)
    assert closing.rolled_over == min(unused, POLICY.rollover_cap)
    assert closing.rolled_over + closing.expired == unused
    by_id = {lot.id: lot for lot in lot_list}
    for lot_closing in closing.closings:
        assert lot_closing.rolled_over >= 0 and lot_closing.expired >= 0
        assert lot_closing.rolled_over + lot_closing.expired == by_id[lot_closing.lot_id].remaining
    rolled = {c.lot_id: c.rolled_over for c in closing.closings}
    for earlier in lot_list:
        for later in lot_list:
            if rolled.get(later.id) and comes_first(earlier, later):
                assert rolled.get(earlier.id, 0) == earlier.remaining, (earlier, later)


# --- appointments ------------------------------------------------------------------

minutes_in_a_day = st.integers(min_value=1, max_value=POLICY.appointment_max_minutes)


@PROPERTY
@given(minutes_in_a_day)
def test_appointment_incidents_are_two_then_one_per_started_half_hour(minutes):
    assert appointment_incidents(minutes) == 2 + math.ceil(max(0, minutes - 60) / 30)


@PROPERTY
@given(minutes_in_a_day, minutes_in_a_day)
def test_a_longer_appointment_never_costs_fewer_incidents(first, second):
    shorter, longer = sorted((first, second))
    assert appointment_incidents(shorter) <= appointment_incidents(longer)


# --- terms -------------------------------------------------------------------------

any_day = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
leap_days = st.sampled_from(range(1992, 2089, 4)).map(lambda year: date(year, 2, 29))
anniversaries = st.one_of(any_day, leap_days, leap_days.map(lambda day: day + timedelta(days=1)))


@PROPERTY
@given(anniversaries, any_day)
def test_the_term_containing_a_day_contains_it_and_is_followed_the_next_day(anniversary, day):
    term = term_containing(anniversary, day)
    assert term.contains(day)
    assert term.start <= term.end
    assert 364 <= (term.end - term.start).days <= 365
    following = next_term(anniversary, term)
    assert following.start == term.end + timedelta(days=1)
    assert term_containing(anniversary, following.start) == following


@PROPERTY
@given(anniversaries, any_day)
def test_every_term_starts_on_the_anniversary_or_28_february_for_29_february(anniversary, day):
    start = term_containing(anniversary, day).start
    if (anniversary.month, anniversary.day) == (2, 29):
        assert (start.month, start.day) in {(2, 28), (2, 29)}
        is_leap = start.year % 4 == 0 and (start.year % 100 != 0 or start.year % 400 == 0)
        assert start.day == (29 if is_leap else 28)
    else:
        assert (start.month, start.day) == (anniversary.month, anniversary.day)


@pytest.mark.parametrize("anniversary", [date(2024, 2, 29), date(2025, 3, 1), date(2026, 1, 1)])
def test_consecutive_terms_cover_every_day_exactly_once(anniversary):
    day, end = anniversary, anniversary + timedelta(days=365 * 9)
    while day <= end:
        term = term_containing(anniversary, day)
        assert term.start == day
        day = term.end + timedelta(days=1)
        assert next_term(anniversary, term).start == day
