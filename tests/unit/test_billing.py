"""The pure billing rules of SPEC.md: values in, values out — no app, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ledger.billing import (
    Allocation,
    Draw,
    InsufficientIncidents,
    LotBalance,
    LotClosing,
    Policy,
    RuleViolation,
    Term,
    add_years,
    allocate,
    appointment_incidents,
    appointment_minutes,
    billed_work_minutes,
    helpdesk_answer_incidents,
    next_term,
    rollover,
    rollover_forecast,
    round_money,
    tax_on,
    technician_response_incidents,
    term_containing,
)

UTC = UTC
PLUS_TWO = timezone(timedelta(hours=2))
D = Decimal


def at(hour: int, minute: int = 0, second: int = 0, tz: timezone = UTC) -> datetime:
    """A moment on 2026-03-02 in ``tz``."""
    return datetime(2026, 3, 2, hour, minute, second, tzinfo=tz)


def lot(id: int, remaining: int, expires_on: date | None = date(2026, 12, 31), *,
        starts_on: date = date(2026, 1, 1), sequence: int | None = None) -> LotBalance:
    return LotBalance(id=id, remaining=remaining, starts_on=starts_on, expires_on=expires_on,
                      sequence=id if sequence is None else sequence)


# --- appointments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "incidents"),
    [
        (1, 2),
        (45, 2),
        (60, 2),
        (61, 3),
        (90, 3),
        (91, 4),
        (120, 4),
        (121, 5),
        (150, 5),
        (24 * 60, 2 + (24 * 60 - 60) // 30),
    ],
)
def test_appointment_costs_two_incidents_for_the_first_hour_then_one_per_half_hour(
    minutes, incidents
):
    assert appointment_incidents(minutes) == incidents


def test_an_appointment_of_exactly_24_hours_costs_48_incidents():
    assert appointment_incidents(1440) == 48


@pytest.mark.parametrize("minutes", [0, -1, -60, 1441, 10_000])
def test_an_appointment_of_no_time_or_over_24_hours_is_refused(minutes):
    with pytest.raises(RuleViolation) as refused:
        appointment_incidents(minutes)
    assert refused.value.field == "minutes"


def test_appointment_policy_values_come_from_the_policy():
    policy = Policy(appointment_first_block_minutes=30, appointment_first_block_incidents=1,
                    appointment_increment_minutes=15, appointment_increment_incidents=2,
                    appointment_max_minutes=120)
    assert [appointment_incidents(m, policy) for m in (30, 31, 45, 46, 120)] == [1, 3, 3, 5, 13]
    with pytest.raises(RuleViolation):
        appointment_incidents(121, policy)


@pytest.mark.parametrize(
    ("started", "ended", "minutes"),
    [
        (at(9), at(9, 0, 1), 1),
        (at(9), at(9, 1), 1),
        (at(9), at(9, 1, 1), 2),
        (at(9), at(10), 60),
        (at(9), at(10, 0, 30), 61),
        (at(9, 0, 59), at(10, 1), 61),
        (at(11, tz=PLUS_TWO), at(9, 30), 30),  # 11:00+02:00 is 09:00Z
        (at(9), at(9) + timedelta(hours=24), 1440),
    ],
)
def test_appointment_length_counts_any_part_of_a_minute_as_a_minute(started, ended, minutes):
    assert appointment_minutes(started, ended) == minutes


def test_an_appointment_across_a_daylight_saving_change_lasts_the_time_that_really_passed():
    berlin = ZoneInfo("Europe/Berlin")
    # clocks jump from 02:00 to 03:00 on 29 March 2026: 01:30 → 03:30 is one hour
    started = datetime(2026, 3, 29, 1, 30, tzinfo=berlin)
    ended = datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
    assert appointment_minutes(started, ended) == 60


@pytest.mark.parametrize(
    ("started", "ended"),
    [
        (at(10), at(9, 59)),
        (at(10), at(10)),
        (at(10, tz=PLUS_TWO), at(8)),  # the same instant written twice
        (at(9), at(9) + timedelta(hours=24, seconds=1)),
        (at(0), at(0) + timedelta(days=3)),
    ],
    ids=["end-before-start", "equal-times", "same-instant-other-offset", "24h-and-1s", "3-days"],
)
def test_an_appointment_that_does_not_end_after_it_starts_or_lasts_over_24_hours_is_refused(
    started, ended
):
    with pytest.raises(RuleViolation) as refused:
        appointment_minutes(started, ended)
    assert refused.value.field == "ended_at"


@pytest.mark.parametrize(
    ("started", "ended", "field"),
    [
        (datetime(2026, 3, 2, 9), at(10), "started_at"),
        (at(9), datetime(2026, 3, 2, 10), "ended_at"),
        (datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10), "started_at"),
    ],
)
def test_an_appointment_time_without_an_offset_is_refused_naming_the_field(started, ended, field):
    with pytest.raises(RuleViolation) as refused:
        appointment_minutes(started, ended)
    assert refused.value.field == field
    assert "offset" in refused.value.message


# --- technician responses, help desk, professional-service work ---------------------


def test_the_first_technician_response_on_a_case_costs_one_incident():
    assert technician_response_incidents(case_already_charged=False) == 1


def test_further_technician_responses_on_a_case_cost_nothing():
    assert technician_response_incidents(case_already_charged=True) == 0


def test_the_technician_response_price_comes_from_the_policy():
    assert technician_response_incidents(False, Policy(technician_response_incidents=3)) == 3
    assert technician_response_incidents(True, Policy(technician_response_incidents=3)) == 0


def test_an_immediate_help_desk_answer_costs_nothing():
    assert helpdesk_answer_incidents() == 0


@pytest.mark.parametrize(
    ("minutes", "billed"),
    [(1, 15), (14, 15), (15, 15), (16, 30), (30, 30), (31, 45), (50, 60), (60, 60), (61, 75)],
)
def test_work_is_billed_in_whole_15_minute_increments_rounded_up(minutes, billed):
    assert billed_work_minutes(minutes) == billed


def test_the_work_billing_increment_comes_from_the_policy():
    assert billed_work_minutes(7, Policy(work_billing_increment_minutes=6)) == 12


@pytest.mark.parametrize("minutes", [0, -1, -15])
def test_work_of_no_minutes_or_negative_minutes_is_refused(minutes):
    with pytest.raises(RuleViolation) as refused:
        billed_work_minutes(minutes)
    assert refused.value.field == "minutes"


# --- terms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2026, 1, 1), 1, date(2027, 1, 1)),
        (date(2026, 6, 15), 3, date(2029, 6, 15)),
        (date(2024, 2, 29), 1, date(2025, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 29)),
        (date(2024, 2, 29), -1, date(2023, 2, 28)),
        (date(2025, 2, 28), 3, date(2028, 2, 28)),
        (date(2026, 12, 31), 0, date(2026, 12, 31)),
    ],
)
def test_add_years_keeps_the_calendar_day_and_turns_29_february_into_28(day, years, expected):
    assert add_years(day, years) == expected


@pytest.mark.parametrize(
    ("anniversary", "day", "start", "end"),
    [
        # the anniversary itself opens a term; the day before it is the last of the previous one
        (date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 1), date(2026, 12, 31)),
        (date(2026, 1, 1), date(2026, 12, 31), date(2026, 1, 1), date(2026, 12, 31)),
        (date(2026, 1, 1), date(2027, 1, 1), date(2027, 1, 1), date(2027, 12, 31)),
        (date(2025, 6, 15), date(2026, 6, 14), date(2025, 6, 15), date(2026, 6, 14)),
        (date(2025, 6, 15), date(2026, 6, 15), date(2026, 6, 15), date(2027, 6, 14)),
        (date(2025, 6, 15), date(2031, 1, 10), date(2030, 6, 15), date(2031, 6, 14)),
        # a 29 February anniversary: terms start on 28 February in common years
        (date(2024, 2, 29), date(2024, 2, 29), date(2024, 2, 29), date(2025, 2, 27)),
        (date(2024, 2, 29), date(2025, 2, 27), date(2024, 2, 29), date(2025, 2, 27)),
        (date(2024, 2, 29), date(2025, 2, 28), date(2025, 2, 28), date(2026, 2, 27)),
        (date(2024, 2, 29), date(2028, 2, 28), date(2027, 2, 28), date(2028, 2, 28)),
        (date(2024, 2, 29), date(2028, 2, 29), date(2028, 2, 29), date(2029, 2, 27)),
        # an anniversary on 1 March in a leap year's term: the term has 366 days
        (date(2027, 3, 1), date(2028, 2, 29), date(2027, 3, 1), date(2028, 2, 29)),
    ],
)
def test_the_term_containing_a_day_runs_from_an_anniversary_to_the_day_before_the_next(
    anniversary, day, start, end
):
    assert term_containing(anniversary, day) == Term(start, end)


def test_a_term_contains_its_first_and_last_day_and_nothing_outside():
    term = Term(date(2026, 1, 1), date(2026, 12, 31))
    assert term.contains(date(2026, 1, 1))
    assert term.contains(date(2026, 12, 31))
    assert not term.contains(date(2025, 12, 31))
    assert not term.contains(date(2027, 1, 1))


@pytest.mark.parametrize(
    ("anniversary", "term", "following"),
    [
        (date(2026, 1, 1), Term(date(2026, 1, 1), date(2026, 12, 31)),
         Term(date(2027, 1, 1), date(2027, 12, 31))),
        (date(2024, 2, 29), Term(date(2024, 2, 29), date(2025, 2, 27)),
         Term(date(2025, 2, 28), date(2026, 2, 27))),
        (date(2024, 2, 29), Term(date(2027, 2, 28), date(2028, 2, 28)),
         Term(date(2028, 2, 29), date(2029, 2, 27))),
    ],
)
def test_the_next_term_starts_the_day_after_the_last_day_of_a_term(anniversary, term, following):
    assert next_term(anniversary, term) == following


# --- allocating a charge to lots ---------------------------------------------------

ON = date(2026, 6, 1)


def test_a_charge_draws_from_the_lot_that_expires_first():
    lots = [lot(1, 10, date(2027, 3, 31)), lot(2, 10, date(2026, 12, 31))]
    assert allocate(lots, 4, ON) == Allocation((Draw(2, 4),))


def test_a_charge_larger_than_the_first_lot_continues_in_the_next_expiring_lot():
    lots = [lot(1, 5, date(2027, 12, 31)), lot(2, 3, date(2026, 12, 31)),
            lot(3, 5, date(2027, 6, 30))]
    assert allocate(lots, 10, ON) == Allocation((Draw(2, 3), Draw(3, 5), Draw(1, 2)))


def test_lots_expiring_the_same_day_are_drawn_in_the_order_they_were_bought():
    lots = [lot(7, 5, sequence=2), lot(3, 5, sequence=9), lot(9, 5, sequence=1)]
    assert allocate(lots, 12, ON) == Allocation((Draw(9, 5), Draw(7, 5), Draw(3, 2)))


def test_a_lot_that_never_expires_is_drawn_after_lots_that_do():
    lots = [lot(1, 5, None), lot(2, 5, date(2030, 1, 1))]
    assert allocate(lots, 7, ON) == Allocation((Draw(2, 5), Draw(1, 2)))


@pytest.mark.parametrize(
    "unusable",
    [
        lot(1, 50, date(2026, 5, 31)),
        lot(1, 50, date(2027, 12, 31), starts_on=date(2026, 6, 2)),
        lot(1, 0, date(2026, 6, 30)),
    ],
    ids=["expired-the-day-before", "starts-the-day-after", "empty"],
)
def test_a_lot_that_cannot_pay_on_the_charge_date_is_skipped(unusable):
    usable = lot(2, 10, date(2026, 12, 31))
    assert allocate([unusable, usable], 3, ON) == Allocation((Draw(2, 3),))


def test_a_lot_pays_on_its_first_and_on_its_last_day():
    first_day = lot(1, 5, date(2026, 12, 31), starts_on=ON)
    last_day = lot(2, 5, ON, starts_on=date(2025, 6, 1))
    assert allocate([first_day, last_day], 7, ON) == Allocation((Draw(2, 5), Draw(1, 2)))


def test_under_bill_the_part_of_a_charge_beyond_the_balance_is_overage():
    allocation = allocate([lot(1, 3), lot(2, 2)], 9, ON, "bill")
    assert allocation == Allocation((Draw(1, 3), Draw(2, 2)), overage=4)
    assert allocation.total == 9


def test_under_bill_a_charge_with_no_usable_lot_is_all_overage():
    assert allocate([lot(1, 10, date(2026, 1, 31))], 2, ON) == Allocation((), overage=2)


def test_under_block_a_charge_the_balance_cannot_cover_is_refused_with_what_was_needed():
    lots = [lot(1, 3), lot(2, 2), lot(3, 40, date(2026, 1, 31))]  # lot 3 has expired
    with pytest.raises(InsufficientIncidents) as refused:
        allocate(lots, 6, ON, "block")
    assert (refused.value.needed, refused.value.available) == (6, 5)
    assert refused.value.field == "incidents"
    assert "block" in refused.value.message


def test_under_block_a_charge_equal_to_the_balance_empties_the_lots():
    assert allocate([lot(1, 3), lot(2, 2)], 5, ON, "block") == Allocation((Draw(1, 3), Draw(2, 2)))


@pytest.mark.parametrize("policy", ["bill", "block"])
def test_a_zero_charge_draws_nothing(policy):
    assert allocate([lot(1, 3)], 0, ON, policy) == Allocation()
    assert allocate([], 0, ON, policy) == Allocation()


def test_a_negative_charge_is_refused():
    with pytest.raises(RuleViolation) as refused:
        allocate([lot(1, 3)], -1, ON)
    assert refused.value.field == "quantity"


# --- rollover at the end of a term -------------------------------------------------


def test_spec_example_40_bought_22_used_rolls_15_and_expires_3():
    closing = rollover([lot(1, 40 - 22)])
    assert (closing.rolled_over, closing.expired) == (15, 3)
    assert closing.closings == (LotClosing(1, 15, 3),)


def test_the_rollover_cap_is_shared_by_several_lots_the_oldest_rolling_first():
    lots = [lot(3, 6, sequence=3), lot(1, 10, sequence=1), lot(2, 8, sequence=2)]
    closing = rollover(lots)
    assert closing.closings == (LotClosing(1, 10, 0), LotClosing(2, 5, 3), LotClosing(3, 0, 6))
    assert (closing.rolled_over, closing.expired) == (15, 9)


def test_unused_incidents_below_the_cap_all_roll_over():
    closing = rollover([lot(1, 4), lot(2, 11)])
    assert (closing.rolled_over, closing.expired) == (15, 0)


def test_a_term_with_nothing_unused_rolls_and_expires_nothing():
    closing = rollover([lot(1, 0), lot(2, 0)])
    assert closing.closings == ()
    assert (closing.rolled_over, closing.expired) == (0, 0)
    assert rollover([]).closings == ()


def test_the_rollover_cap_comes_from_the_policy():
    closing = rollover([lot(1, 18)], Policy(rollover_cap=20))
    assert (closing.rolled_over, closing.expired) == (18, 0)
    assert rollover([lot(1, 18)], Policy(rollover_cap=0)).expired == 18


@pytest.mark.parametrize(
    ("unused", "forecast"),
    [(18, (15, 3)), (15, (15, 0)), (16, (15, 1)), (7, (7, 0)), (0, (0, 0)), (-4, (0, 0))],
)
def test_rollover_forecast_tells_how_many_will_roll_and_how_many_will_expire(unused, forecast):
    assert rollover_forecast(unused) == forecast


# --- money rounding and tax --------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("1.015", "1.02"),
        ("2.675", "2.68"),  # 2.675 as a float is 2.67499…; as a Decimal it is exactly half
        ("10.125", "10.13"),
        ("-0.005", "-0.01"),
        ("-1.015", "-1.02"),
        ("7", "7.00"),
    ],
)
def test_money_is_rounded_half_up_at_the_cent(amount, rounded):
    assert str(round_money(D(amount))) == rounded


def test_money_in_a_currency_without_cents_is_rounded_half_up_to_the_unit():
    assert round_money(D("100.5"), D("1")) == D("101")
    assert round_money(D("100.49"), D("1")) == D("100")


@pytest.mark.parametrize(
    ("amount", "rate", "tax"),
    [
        ("10.00", "8.25", "0.83"),  # 0.825
        ("2.00", "8.25", "0.17"),  # 0.165
        ("6.00", "8.25", "0.50"),  # 0.495
        ("1234.50", "8.25", "101.85"),  # 101.84625
        ("0.05", "10", "0.01"),  # 0.005
        ("0.04", "10", "0.00"),  # 0.004
        ("1234.50", "10", "123.45"),
        ("1234.50", "0", "0.00"),
        ("-10.00", "8.25", "-0.83"),  # a credit note's tax mirrors the invoice's
    ],
)
def test_tax_is_the_rate_percent_of_the_amount_rounded_half_up_at_the_cent(amount, rate, tax):
    assert str(tax_on(D(amount), D(rate))) == tax
