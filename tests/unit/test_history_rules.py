"""The running balance of a client's incidents: each movement with the balance after it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.billing import HISTORY_KINDS, Movement, filter_history, running_history, spreadsheet_safe
from tests.helpers import examples

PROPERTY = settings(max_examples=examples(200), deadline=None)
DAY = date(2026, 3, 1)


def move(kind: str, quantity: int, day: int = 0, entry: int = 0, on_balance: bool = True) -> Movement:
    return Movement(DAY + timedelta(days=day), kind, quantity, on_balance, entry_id=entry)


@pytest.mark.parametrize("opening, movements, balances", [
    (0, [], []),
    (0, [move("purchase", 40)], [40]),
    (40, [move("charge", -2, 1), move("charge", -1, 2)], [38, 37]),
    # a waiver gives back what the charge took
    (10, [move("charge", -3, 1, 1), move("reversal", 3, 2, 2)], [7, 10]),
    # the term's end: 18 unused → 15 roll over, 3 expire (out of the old lot, into the new)
    (18, [move("rollover_in", 15, 5, 3), move("rollover_out", -15, 5, 4), move("expiry", -3, 5, 5)], [33, 18, 15]),
    # overage is billed, never drawn from a lot: the balance stays at 0
    (1, [move("charge", -1, 1, 1), move("overage", -2, 1, 2, on_balance=False)], [0, 0]),
    # movements are shown by day, then in posting order, whatever order they come in
    (5, [move("charge", -1, 3, 9), move("purchase", 10, 1, 7)], [15, 14]),
])
def test_each_movement_shows_the_balance_after_it(opening, movements, balances):
    history = running_history(opening, movements)

    assert [row.balance for row in history.rows] == balances
    assert history.opening == opening
    assert history.closing == (balances[-1] if balances else opening)


def test_filtering_by_kind_keeps_each_rows_balance_and_the_closing_figure():
    history = running_history(0, [move("purchase", 40, 0, 1), move("charge", -2, 1, 2), move("charge", -1, 2, 3)])

    only_purchases = filter_history(history, ["purchase"])

    assert [(row.movement.kind, row.balance) for row in only_purchases.rows] == [("purchase", 40)]
    assert only_purchases.closing == 37
    assert filter_history(history, []) == history


@pytest.mark.parametrize("text, shown", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
    ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("Charge: appointment", "Charge: appointment"), ("", ""),
])
def test_a_text_cell_never_starts_a_spreadsheet_formula(text, shown):
    assert spreadsheet_safe(text) == shown


movements = st.lists(st.builds(
    Movement,
    effective_on=st.integers(min_value=0, max_value=400).map(lambda d: DAY + timedelta(days=d)),
    kind=st.sampled_from(HISTORY_KINDS),
    quantity=st.integers(min_value=-50, max_value=50).filter(bool),
    on_balance=st.booleans(),
    entry_id=st.integers(min_value=1, max_value=10_000),
), max_size=40)


@PROPERTY
@given(opening=st.integers(min_value=0, max_value=1000), movements=movements)
def test_the_last_balance_is_the_opening_plus_every_quantity_drawn_on_the_balance(opening, movements):
    history = running_history(opening, movements)

    assert history.closing == opening + sum(m.quantity for m in movements if m.on_balance)
    assert len(history.rows) == len(movements)
    # each row's balance is the one before it plus its own quantity
    before = opening
    for row in history.rows:
        assert row.balance == before + (row.movement.quantity if row.movement.on_balance else 0)
        before = row.balance
