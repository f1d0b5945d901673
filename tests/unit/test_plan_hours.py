"""Opening hours as a form or the API states them (``shift``), and grouped back for display (``shifts_of``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.billing import RuleViolation
from ledger.businesstime import WEEKDAYS, Window, shift, shifts_of


@pytest.mark.parametrize(("days", "opens", "closes", "next_day", "windows"), [
    ("mon-fri", "08:00", "18:00", False, [Window(d, 480, 1080) for d in range(5)]),
    ("sat", "00:00", "24:00", False, [Window(5, 0, 1440)]),
    ("mon,wed", "22:00", "06:00", True, [Window(0, 1320, 1800), Window(2, 1320, 1800)]),
    ("sun", "08:00", "08:00", True, [Window(6, 480, 1920)]),
])
def test_a_shift_gives_one_window_per_day(days, opens, closes, next_day, windows):
    assert list(shift(days, opens, closes, next_day)) == windows


@pytest.mark.parametrize(("days", "opens", "closes", "next_day", "field"), [
    ("mon-fri", "18:00", "08:00", False, "closes"),
    ("mon-fri", "08:00", "08:00", False, "closes"),
    ("mon-fri", "24:00", "24:00", False, "opens"),
    ("mon-fri", "8h", "18:00", False, "opens"),
    ("mon-fri", "08:00", "18:61", False, "closes"),
    ("mon-fri", "08:00", "09:00", True, "closes"),
    ("funday", "08:00", "18:00", False, "days"),
    ("mon,mon", "08:00", "18:00", False, "days"),
])
def test_a_wrong_shift_names_its_part(days, opens, closes, next_day, field):
    with pytest.raises(RuleViolation) as raised:
        shift(days, opens, closes, next_day)
    assert raised.value.field == field


def test_the_weekdays_with_the_same_hours_are_grouped_into_ranges():
    windows = [*shift("mon-wed,fri", "08:00", "18:00"), *shift("sat", "22:00", "02:00", True)]

    assert shifts_of(windows) == (("mon-wed,fri", "08:00", "18:00", False), ("sat", "22:00", "02:00", True))


@given(st.sets(st.integers(0, 6), min_size=1), st.integers(0, 1439), st.integers(1, 1440))
def test_grouping_then_reading_the_hours_again_gives_the_same_windows(days, opens, length):
    windows = [Window(day, opens, opens + length) for day in sorted(days)]

    again = [w for days_text, o, c, next_day in shifts_of(windows) for w in shift(days_text, o, c, next_day)]

    assert sorted(again) == windows
    assert all(part in WEEKDAYS for text, *_ in shifts_of(windows) for part in text.replace("-", ",").split(","))
