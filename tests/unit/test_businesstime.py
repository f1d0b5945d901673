"""Business time: tables from the service-level rules, and properties over random instants."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.billing import InvalidTransition, RuleViolation
from ledger.businesstime import (
    Calendar,
    Target,
    add_business_time,
    business_time_between,
    case_transition,
    due_time,
    is_open,
    next_opening,
    paused_intervals,
    target_state,
    weekly_hours,
)
from tests.helpers import examples

TORONTO = ZoneInfo("America/Toronto")
CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
STANDARD = Calendar("America/Toronto", weekly_hours("mon-fri", "08:00", "18:00"), "CA", "ON")
ZENPUT = Calendar("America/Chicago", weekly_hours("mon-fri", "00:00", "24:00"), "US")
NIGHTS = Calendar("Europe/Berlin", weekly_hours("mon-fri", "22:00", "06:00"))
ALWAYS = STANDARD.around_the_clock()


def toronto(*args) -> datetime:
    return datetime(*args, tzinfo=TORONTO)


def local(calendar: Calendar, instant: datetime) -> datetime:
    return instant.astimezone(ZoneInfo(calendar.time_zone)).replace(tzinfo=None)


@pytest.mark.parametrize(("start", "amount", "unit", "due"), [
    # SPEC: a major case opened Friday 16:00 Toronto is due Monday 16:00 (2 h Friday + 8 h Monday)
    (toronto(2026, 3, 6, 16), 1, "business_days", datetime(2026, 3, 9, 16)),
    (toronto(2026, 3, 6, 16), 10, "business_hours", datetime(2026, 3, 9, 16)),
    # the same across the week the clocks spring forward (Sunday 8 March 2026)
    (toronto(2026, 3, 6, 16), 3, "business_days", datetime(2026, 3, 11, 16)),
    # ... and fall back (Sunday 1 November 2026)
    (toronto(2026, 10, 30, 16), 1, "business_days", datetime(2026, 11, 2, 16)),
    # Good Friday 2026 (3 April) is an Ontario holiday: Thursday 16:00 + 1 day is Monday 16:00
    (toronto(2026, 4, 2, 16), 1, "business_days", datetime(2026, 4, 6, 16)),
    # Canada Day, Wednesday 1 July 2026
    (toronto(2026, 6, 30, 9), 10, "business_hours", datetime(2026, 7, 2, 9)),
    # opened at night: counting starts at the next opening
    (toronto(2026, 3, 7, 10), 4, "business_hours", datetime(2026, 3, 9, 12)),
    # a due time may fall at a closing time
    (toronto(2026, 3, 6, 16), 2, "business_hours", datetime(2026, 3, 6, 18)),
    (toronto(2026, 3, 9, 8), 1, "business_days", datetime(2026, 3, 9, 18)),
    # clock hours ignore the calendar, across the spring-forward night
    (toronto(2026, 3, 7, 22), 4, "hours", datetime(2026, 3, 8, 3)),
    # 20 business days across Good Friday
    (toronto(2026, 3, 6, 16), 20, "business_days", datetime(2026, 4, 6, 16)),
])
def test_due_times_on_the_standard_calendar(start, amount, unit, due):
    assert local(STANDARD, add_business_time(STANDARD, start, amount, unit)) == due


@pytest.mark.parametrize(("start", "amount", "unit", "due"), [
    # a 24×5 calendar: Friday 22:00 + 4 business hours is Monday 02:00
    (datetime(2026, 3, 6, 22, tzinfo=CHICAGO), 4, "business_hours", datetime(2026, 3, 9, 2)),
    # Wednesday 10:00 + 3 business days is Monday 10:00
    (datetime(2026, 3, 4, 10, tzinfo=CHICAGO), 3, "business_days", datetime(2026, 3, 9, 10)),
    # Thanksgiving (26 November 2026) is closed
    (datetime(2026, 11, 25, 10, tzinfo=CHICAGO), 1, "business_days", datetime(2026, 11, 27, 10)),
])
def test_due_times_on_a_24_by_5_calendar(start, amount, unit, due):
    assert local(ZENPUT, add_business_time(ZENPUT, start, amount, unit)) == due


@pytest.mark.parametrize(("start", "hours", "due"), [
    # night shifts Mon–Fri 22:00–06:00 belong to the evening they start on
    (datetime(2026, 3, 2, 23, tzinfo=BERLIN), 2, datetime(2026, 3, 3, 1)),
    (datetime(2026, 3, 3, 5, tzinfo=BERLIN), 2, datetime(2026, 3, 3, 23)),
    # Friday's shift runs into Saturday morning; the next is Monday night
    (datetime(2026, 3, 7, 5, tzinfo=BERLIN), 2, datetime(2026, 3, 9, 23)),
])
def test_midnight_spanning_hours(start, hours, due):
    assert local(NIGHTS, add_business_time(NIGHTS, start, hours, "business_hours")) == due


def test_a_night_shift_through_the_spring_forward_night_is_an_hour_shorter():
    saturday_nights = Calendar("Europe/Berlin", weekly_hours("sat", "22:00", "06:00"))
    start = datetime(2026, 3, 28, 22, tzinfo=BERLIN)  # clocks jump from 02:00 to 03:00 on Sunday 29 March
    due = add_business_time(saturday_nights, start, 5, "business_hours")
    assert local(saturday_nights, due) == datetime(2026, 3, 29, 4)
    assert business_time_between(saturday_nights, start, start + timedelta(days=1)) == timedelta(hours=7)


def test_a_24_by_7_day_lasts_as_long_as_the_clocks_say():
    start = toronto(2026, 3, 7, 12)
    assert business_time_between(ALWAYS, start, toronto(2026, 3, 8, 12)) == timedelta(hours=23)
    assert local(ALWAYS, add_business_time(ALWAYS, start, 24, "business_hours")) == datetime(2026, 3, 8, 13)


def test_a_holiday_is_closed():
    assert not is_open(STANDARD, toronto(2026, 7, 1, 12))
    assert is_open(STANDARD, toronto(2026, 7, 2, 12))
    assert local(STANDARD, next_opening(STANDARD, toronto(2026, 7, 1, 12))) == datetime(2026, 7, 2, 8)


def test_closure_days_close_the_calendar():
    closed = Calendar("America/Toronto", STANDARD.windows, "CA", "ON", frozenset({date(2026, 12, 24)}))
    start = toronto(2026, 12, 23, 16)
    assert local(closed, add_business_time(closed, start, 1, "business_days")) == datetime(2026, 12, 29, 16)


def test_business_time_between_skips_nights_weekends_and_holidays():
    assert business_time_between(STANDARD, toronto(2026, 3, 6, 16), toronto(2026, 3, 9, 16)) == timedelta(hours=10)
    assert business_time_between(STANDARD, toronto(2026, 1, 1), toronto(2027, 1, 1)) == timedelta(
        hours=10 * (261 - 9))  # 261 weekdays in 2026; 9 Ontario holidays on weekdays
    assert business_time_between(STANDARD, toronto(2026, 3, 9), toronto(2026, 3, 6)) == timedelta(0)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"time_zone": ""}, "time_zone"),
    ({"holiday_country": "XX"}, "holiday_country"),
    ({"holiday_country": "CA", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
    ({"windows": ()}, "hours"),
    ({"windows": weekly_hours("mon", "08:00", "12:00") + weekly_hours("mon", "11:00", "13:00")}, "hours"),
])
def test_bad_calendars_are_refused_naming_the_field(kwargs, field):
    values = {"time_zone": "America/Toronto", "windows": STANDARD.windows, **kwargs}
    with pytest.raises(RuleViolation) as refused:
        Calendar(**values)
    assert refused.value.field == field


@pytest.mark.parametrize(("days", "opens", "closes"), [
    ("mon-fri", "25:00", "18:00"), ("someday", "08:00", "18:00"), ("mon", "24:00", "02:00"),
])
def test_bad_opening_hours_are_refused(days, opens, closes):
    with pytest.raises(RuleViolation) as refused:
        weekly_hours(days, opens, closes)
    assert refused.value.field == "hours"


@pytest.mark.parametrize(("amount", "unit", "field"), [
    (0, "hours", "amount"), (-3, "business_days", "amount"), (1, "weeks", "unit"), (1.5, "hours", "amount"),
])
def test_a_target_is_a_positive_amount_of_a_known_unit(amount, unit, field):
    with pytest.raises(RuleViolation) as refused:
        Target(amount, unit)
    assert refused.value.field == field


def test_pausing_moves_the_due_time_by_the_paused_business_time():
    start = toronto(2026, 3, 2, 9)  # Monday
    target = Target(3, "business_days")
    plain = due_time(STANDARD, start, target)
    paused = due_time(STANDARD, start, target, [(toronto(2026, 3, 3, 17), toronto(2026, 3, 4, 10))])
    assert local(STANDARD, plain) == datetime(2026, 3, 5, 9)
    assert local(STANDARD, paused) == datetime(2026, 3, 5, 12)  # 1 h Tuesday + 2 h Wednesday


def test_a_pause_after_the_due_time_changes_nothing():
    start = toronto(2026, 3, 2, 9)
    target = Target(4, "business_hours")
    assert due_time(STANDARD, start, target, [(toronto(2026, 3, 3, 9), toronto(2026, 3, 4, 9))]) == \
        due_time(STANDARD, start, target)


def test_paused_intervals_come_from_waiting_on_the_customer():
    history = [(toronto(2026, 3, 2, 10), "in_progress"), (toronto(2026, 3, 2, 11), "waiting_on_customer"),
               (toronto(2026, 3, 2, 13), "in_progress"), (toronto(2026, 3, 3, 9), "waiting_on_customer")]
    now = toronto(2026, 3, 3, 10)
    assert paused_intervals(history, now) == [(toronto(2026, 3, 2, 11), toronto(2026, 3, 2, 13)),
                                              (toronto(2026, 3, 3, 9), now)]


@pytest.mark.parametrize(("due", "happened", "now", "state"), [
    (None, None, toronto(2026, 3, 2), "none"),
    (toronto(2026, 3, 2, 12), toronto(2026, 3, 2, 12), toronto(2026, 3, 3), "met"),
    (toronto(2026, 3, 2, 12), toronto(2026, 3, 2, 12, 1), toronto(2026, 3, 3), "breached"),
    (toronto(2026, 3, 2, 12), None, toronto(2026, 3, 2, 11), "pending"),
    (toronto(2026, 3, 2, 12), None, toronto(2026, 3, 2, 12, 1), "breached"),
])
def test_a_target_is_met_at_or_before_its_due_time(due, happened, now, state):
    assert target_state(due, happened, now) == state


STATUSES = ("open", "in_progress", "waiting_on_customer", "resolved", "closed")
ALLOWED = {("open", "in_progress"), ("in_progress", "waiting_on_customer"), ("in_progress", "resolved"),
           ("waiting_on_customer", "in_progress"), ("waiting_on_customer", "resolved"),
           ("resolved", "closed"), ("resolved", "in_progress")}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("new_status", STATUSES)
def test_every_status_change_is_allowed_or_refused_by_the_table(status, new_status):
    if (status, new_status) in ALLOWED:
        assert case_transition(status, new_status) == new_status
    else:
        with pytest.raises(InvalidTransition):
            case_transition(status, new_status)


def test_an_unknown_status_is_refused_naming_status():
    with pytest.raises(RuleViolation) as refused:
        case_transition("open", "done")
    assert refused.value.field == "status" and not isinstance(refused.value, InvalidTransition)


# --- properties -------------------------------------------------------------------------------

CALENDARS = st.sampled_from([STANDARD, ZENPUT, NIGHTS, ALWAYS,
                             Calendar("Australia/Lord_Howe", weekly_hours("mon-sat", "01:30", "02:45"))])
INSTANTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=UTC))
HOURS = st.integers(min_value=0, max_value=24 * 40).map(lambda minutes: timedelta(minutes=minutes * 15))


@settings(max_examples=examples(300), deadline=None)
@given(CALENDARS, INSTANTS, HOURS)
def test_adding_then_measuring_returns_the_amount(calendar, start, amount):
    from ledger.businesstime import add_business_hours

    due = add_business_hours(calendar, start, amount)
    assert business_time_between(calendar, start, due) == amount


@settings(max_examples=examples(200), deadline=None)
@given(CALENDARS, INSTANTS, st.integers(1, 30), st.integers(1, 30))
def test_a_due_time_grows_with_the_amount(calendar, start, smaller, larger):
    smaller, larger = sorted((smaller, larger))
    for unit in ("business_hours", "business_days"):
        assert add_business_time(calendar, start, smaller, unit) <= add_business_time(calendar, start, larger, unit)


@settings(max_examples=examples(200), deadline=None)
@given(CALENDARS, INSTANTS, st.integers(0, 60 * 24 * 9), st.integers(1, 20))
def test_a_due_time_grows_with_the_start(calendar, start, later_by, days):
    later = start + timedelta(minutes=later_by)
    for unit in ("business_hours", "business_days"):
        assert add_business_time(calendar, start, days, unit) <= add_business_time(calendar, later, days, unit)


@settings(max_examples=examples(200), deadline=None)
@given(CALENDARS, INSTANTS, st.integers(1, 20), st.sampled_from(["business_hours", "business_days"]),
       st.integers(0, 60 * 24 * 20), st.integers(0, 60 * 24 * 5))
def test_pausing_shifts_the_due_time_by_exactly_the_paused_business_time(
    calendar, start, amount, unit, pause_after, pause_minutes,
):
    target = Target(amount, unit)
    plain = due_time(calendar, start, target)
    paused_from = start + timedelta(minutes=pause_after)
    paused_to = paused_from + timedelta(minutes=pause_minutes)
    shifted = due_time(calendar, start, target, [(paused_from, paused_to)])
    expected = business_time_between(calendar, paused_from, paused_to) if paused_from < plain else timedelta(0)
    assert business_time_between(calendar, plain, shifted) == expected
    assert shifted >= plain


@settings(max_examples=examples(200), deadline=None)
@given(CALENDARS, INSTANTS, INSTANTS, INSTANTS)
def test_business_time_adds_up_over_consecutive_spans(calendar, a, b, c):
    a, b, c = sorted((a, b, c))
    assert business_time_between(calendar, a, c) == (
        business_time_between(calendar, a, b) + business_time_between(calendar, b, c))
