"""The running-total timeline gives exactly what walking the calendar day by day gives."""

from datetime import UTC, date, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.billing import RuleViolation
from ledger.businesstime import (
    Calendar,
    Window,
    _schedule,
    add_business_days,
    add_business_hours,
    business_time_between,
)
from tests.helpers import examples

ZONES = ("America/Toronto", "America/Chicago", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")


# --- the straightforward walk: one local day after another over the calendar's intervals -------

def walk_between(calendar: Calendar, a: datetime, b: datetime) -> timedelta:
    schedule = _schedule(calendar)
    total, day = timedelta(0), schedule.local_date(a) - timedelta(1)
    while day <= schedule.local_date(b):
        for start, end in schedule.day(day):
            total += max(min(end, b) - max(start, a), timedelta(0))
        day += timedelta(1)
    return total


def walk_add_hours(calendar: Calendar, start: datetime, amount: timedelta) -> datetime:
    schedule = _schedule(calendar)
    if amount == timedelta(0):
        return start
    remaining, day = amount, schedule.local_date(start) - timedelta(1)
    while True:
        for opens, closes in schedule.day(day):
            if closes <= start:
                continue
            opens = max(opens, start)
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        day += timedelta(1)


def walk_add_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    schedule = _schedule(calendar)
    if days == 0:
        return start
    day = schedule.local_date(start) + timedelta(1)
    while not (schedule.day(day) and schedule.day(day)[0][0] < start):
        day -= timedelta(1)
    position = sum((min(end, start) - opens for opens, end in schedule.day(day) if opens < start), timedelta(0))
    for _ in range(days):
        day += timedelta(1)
        while not schedule.day(day):
            day += timedelta(1)
    for opens, closes in schedule.day(day):
        if position <= closes - opens:
            return opens + position
        position -= closes - opens
    return schedule.day(day)[-1][1]


# --- random calendars and instants --------------------------------------------------------------

@st.composite
def calendars(draw) -> Calendar:
    """Any zone, one shift on some weekdays (night shifts and whole days too), holidays, closures."""
    windows = []
    for weekday in range(7):
        if draw(st.booleans()):
            opens = draw(st.integers(0, 95)) * 15
            windows.append(Window(weekday, opens, opens + draw(st.integers(1, 96)) * 15))
    assume(windows)
    country = draw(st.sampled_from([None, "US", "CA", "DE"]))
    closures = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2026, 2, 28)), max_size=20))
    try:
        return Calendar(draw(st.sampled_from(ZONES)), tuple(windows), country, None, closures,
                        every_hour=draw(st.integers(0, 9)) == 0)
    except RuleViolation:  # overlapping shifts
        assume(False)


INSTANTS = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 1, 15)).map(
    lambda naive: naive.replace(tzinfo=UTC))


@settings(max_examples=examples(400), deadline=None)
@given(calendars(), INSTANTS, INSTANTS)
def test_business_time_between_equals_the_walk(calendar, a, b):
    a, b = sorted((a, b))
    assert business_time_between(calendar, a, b) == walk_between(calendar, a, b)


@settings(max_examples=examples(400), deadline=None)
@given(calendars(), INSTANTS, st.integers(0, 24 * 60 * 4).map(lambda m: timedelta(minutes=m * 15)))
def test_adding_business_hours_equals_the_walk(calendar, start, amount):
    assert add_business_hours(calendar, start, amount) == walk_add_hours(calendar, start, amount)


@settings(max_examples=examples(400), deadline=None)
@given(calendars(), INSTANTS, st.integers(0, 40))
def test_adding_business_days_equals_the_walk(calendar, start, days):
    assert add_business_days(calendar, start, days) == walk_add_days(calendar, start, days)


def test_a_timeline_grows_to_reach_a_due_time_years_away():
    calendar = Calendar("UTC", (Window(0, 600, 660),))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    assert add_business_hours(calendar, start, timedelta(hours=600)) == walk_add_hours(
        calendar, start, timedelta(hours=600))
    assert add_business_days(calendar, start, 300) == walk_add_days(calendar, start, 300)
    assert business_time_between(calendar, datetime(2020, 1, 1, tzinfo=UTC), start) == walk_between(
        calendar, datetime(2020, 1, 1, tzinfo=UTC), start)
