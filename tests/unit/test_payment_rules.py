"""An invoice's standing and the aging buckets: pure rules over values (SPEC.md "Getting paid")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.billing import (
    AGING_BUCKETS,
    INVOICE_STATUSES,
    age_receivables,
    aging_bucket,
    invoice_standing,
    payment_refusal,
)

DUE = date(2026, 3, 31)


@pytest.mark.parametrize(("total", "credited", "paid", "today", "status", "due"), [
    (110_00, 0, 0, DUE, "open", 110_00),
    (110_00, 0, 50_00, DUE, "partially_paid", 60_00),
    (110_00, 0, 110_00, DUE, "paid", 0),
    (110_00, 0, 110_00, DUE + timedelta(days=40), "paid", 0),
    (110_00, 0, 0, DUE + timedelta(days=1), "overdue", 110_00),
    (110_00, 0, 50_00, DUE + timedelta(days=1), "overdue", 60_00),
    (110_00, 110_00, 0, DUE + timedelta(days=1), "credited", 0),
    (110_00, 10_00, 0, DUE, "open", 100_00),
    (110_00, 10_00, 100_00, DUE + timedelta(days=9), "paid", 0),
    # a credit note after full payment: the client is owed the credit
    (110_00, 110_00, 110_00, DUE, "credited", -110_00),
])
def test_an_invoices_status_and_amount_due_follow_from_credits_payments_and_the_day(
        total, credited, paid, today, status, due):
    standing = invoice_standing(total, credited, paid, DUE, today)

    assert (standing.status, standing.amount_due, standing.amount_paid) == (status, due, paid)


@given(total=st.integers(1, 10**9), credited=st.integers(0, 10**9), paid=st.integers(0, 10**9),
       late=st.integers(-400, 400))
def test_amount_due_is_always_what_is_left_after_credits_and_payments(total, credited, paid, late):
    standing = invoice_standing(total, credited, paid, DUE, DUE + timedelta(days=late))

    assert standing.amount_due == total - credited - paid
    assert standing.status in INVOICE_STATUSES
    assert (standing.status == "overdue") == (credited < total and paid < total - credited and late > 0)


@pytest.mark.parametrize(("amount", "due", "paid_on", "field"), [
    (0, 100, DUE, "amount"),
    (-1, 100, DUE, "amount"),
    (101, 100, DUE, "amount"),
    (100, 100, DUE + timedelta(days=1), "paid_on"),
    (100, 100, date(2026, 2, 28), "paid_on"),
    (100, 100, DUE, None),
    (1, 100, date(2026, 3, 1), None),
])
def test_a_payment_is_refused_naming_the_field_at_fault(amount, due, paid_on, field):
    refusal = payment_refusal(amount, due, paid_on, issued_on=date(2026, 3, 1), today=DUE)

    assert (refusal.field if refusal else None) == field


@pytest.mark.parametrize(("late", "bucket"), [
    (-10, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"),
    (61, "61-90"), (90, "61-90"), (91, "over_90"), (1000, "over_90"),
])
def test_an_amount_is_aged_by_the_days_since_it_fell_due(late, bucket):
    assert aging_bucket(DUE, DUE + timedelta(days=late)) == bucket


@given(st.lists(st.tuples(st.integers(-500, 500), st.integers(-10**6, 10**6)), max_size=30))
def test_the_aging_buckets_add_up_to_everything_due(items):
    dated = [(DUE + timedelta(days=days), amount) for days, amount in items]

    buckets = age_receivables(dated, DUE)

    assert list(buckets) == [name for name, _, _ in AGING_BUCKETS]
    assert sum(buckets.values()) == sum(amount for _, amount in dated)
