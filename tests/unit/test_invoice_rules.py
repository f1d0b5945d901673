"""Pure invoicing rules: the Period value, number formats, maintenance, overage grouping,
composition, credit-note totals, waivers, the work split and incidents used."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.billing import (
    Composition,
    LineDraft,
    OverageCharge,
    Period,
    PostedCharge,
    RuleViolation,
    Totals,
    can_waive,
    check_not_future,
    check_period_begun,
    compose_invoice,
    credit_totals,
    document_number,
    group_overage,
    incidents_used,
    invoice_totals,
    maintenance_term,
    month_bounds,
    waive_refusal,
    work_split,
)

D = Decimal

# --- Period ------------------------------------------------------------------------


@pytest.mark.parametrize("text, year, month, start, end", [
    ("2026-01", 2026, 1, date(2026, 1, 1), date(2026, 1, 31)),
    ("2024-02", 2024, 2, date(2024, 2, 1), date(2024, 2, 29)),
    ("2026-12", 2026, 12, date(2026, 12, 1), date(2026, 12, 31)),
])
def test_a_period_is_a_month_with_its_first_and_last_day(text, year, month, start, end):
    period = Period.parse(text)
    assert (period.year, period.month, period.start, period.end, str(period)) == (year, month, start, end, text)


@pytest.mark.parametrize("text", [
    "2026-١٢", "٢٠٢٦-12", "2026- 1", "2026-+1", "2026-1", "2026-13", "2026-00", "26-01", " 2026-01",
    "2026-01 ", "2026-01\n", "2026/01", "2026-01-01", "", "0000-01", "２０２６-01", None, 202601,
])
def test_anything_but_an_ascii_year_dash_month_is_refused_naming_the_period(text):
    with pytest.raises(RuleViolation) as refused:
        Period.parse(text)
    assert refused.value.field == "period"


def test_month_bounds_parses_as_strictly_as_period():
    with pytest.raises(RuleViolation):
        month_bounds("2026-١٢")
    assert month_bounds(Period(2026, 3)) == (date(2026, 3, 1), date(2026, 3, 31))


@given(st.integers(1, 9999), st.integers(1, 12))
def test_a_period_reads_back_what_it_prints_and_steps_a_month(year, month):
    period = Period(year, month)
    assert Period.parse(str(period)) == period
    if year < 9999 or month < 12:
        assert period.following().start == date.fromordinal(period.end.toordinal() + 1)
    if year > 1 or month > 1:
        assert period.previous().following() == period


def test_a_day_after_today_is_refused_and_today_is_not():
    check_not_future(date(2026, 12, 1), date(2026, 12, 1), "as_of", "close terms once they end")
    with pytest.raises(RuleViolation) as refused:
        check_not_future(date(2026, 12, 2), date(2026, 12, 1), "as_of", "close terms once they end")
    assert refused.value.field == "as_of"


@pytest.mark.parametrize("period, today, allowed", [
    ("2026-12", date(2026, 12, 1), True),
    ("2026-12", date(2026, 11, 30), False),
    ("2100-01", date(2026, 12, 1), False),
])
def test_a_month_that_has_not_begun_cannot_be_invoiced(period, today, allowed):
    if allowed:
        check_period_begun(Period.parse(period), today)
    else:
        with pytest.raises(RuleViolation, match="has not begun"):
            check_period_begun(Period.parse(period), today)


# --- numbers, maintenance, overage, composition -----------------------------------


@pytest.mark.parametrize("kind, year, number, printed", [
    ("invoice", 2026, 42, "INV-2026-00042"),
    ("credit_note", 2027, 3, "CN-2027-00003"),
    ("invoice", 2026, 123456, "INV-2026-123456"),
])
def test_document_numbers_are_prefix_year_and_five_digits(kind, year, number, printed):
    assert document_number(kind, year, number) == printed


@pytest.mark.parametrize("anniversary, period, renews", [
    (date(2025, 3, 15), "2026-03", (date(2026, 3, 15), date(2027, 3, 14))),
    (date(2025, 3, 15), "2026-04", None),
    (date(2025, 3, 1), "2026-02", None),
    (date(2024, 2, 29), "2026-02", (date(2026, 2, 28), date(2027, 2, 27))),
    (date(2026, 1, 1), "2026-01", (date(2026, 1, 1), date(2026, 12, 31))),
])
def test_the_maintenance_fee_falls_in_the_month_the_term_renews(anniversary, period, renews):
    term = maintenance_term(anniversary, Period.parse(period))
    assert (None if term is None else (term.start, term.end)) == renews


def test_overage_is_grouped_by_price_in_price_order_keeping_each_source():
    charges = [OverageCharge((250,), "entry:1", 2), OverageCharge((300,), "entry:2", 1),
               OverageCharge((250,), "entry:3", 3)]
    assert [(g.group, g.quantity, g.sources) for g in group_overage(charges)] == [
        ((250,), 5, ("entry:1", "entry:3")), ((300,), 1, ("entry:2",))]


@given(st.lists(st.tuples(st.sampled_from([100, 250, 300]), st.integers(1, 50)), max_size=30))
def test_grouping_overage_loses_and_invents_nothing(rows):
    charges = [OverageCharge((price,), f"entry:{i}", qty) for i, (price, qty) in enumerate(rows)]
    groups = group_overage(charges)
    assert sum(g.quantity for g in groups) == sum(q for _, q in rows)
    assert sorted(s for g in groups for s in g.sources) == sorted(c.source for c in charges)
    assert [g.group for g in groups] == sorted({(p,) for p, _ in rows})


def line(kind, amount, *sources, quantity="1"):
    return LineDraft(kind, kind, D(quantity), D(amount), D(amount), tuple(sources))


def test_an_invoice_prints_unbilled_lines_in_kind_order_with_tax_on_the_subtotal():
    candidates = [line("incident_overage", "250.00", "entry:9"), line("bundle", "2000.00", "bundle:1"),
                  line("bundle", "450.00", "bundle:2"), line("maintenance", "1200.00", "maintenance:1"),
                  line("quote", "0.00", "item:1", quantity="0")]
    composed = compose_invoice(candidates, billed={"bundle:2"}, tax_rate=D(10))
    assert [(li.kind, li.amount) for li in composed.lines] == [
        ("bundle", D("2000.00")), ("maintenance", D("1200.00")), ("incident_overage", D("250.00"))]
    assert composed.totals == Totals(D("3450.00"), D("345.00"), D("3795.00"))


def test_nothing_unbilled_composes_an_empty_invoice():
    composed = compose_invoice([line("bundle", "10.00", "bundle:1")], billed={"bundle:1"}, tax_rate=D(10))
    assert composed == Composition((), Totals(D(0), D("0.00"), D("0.00")))
    assert not composed.billable


# --- credit notes ------------------------------------------------------------------


def test_three_single_line_credits_of_a_three_line_invoice_credit_exactly_its_tax():
    amounts = [D("33.30")] * 3
    invoice = invoice_totals(amounts, D("7.5"))
    assert invoice.tax == D("7.49")
    credited = Totals(D(0), D(0), D(0))
    taxes = []
    for index, amount in enumerate(amounts):
        note = credit_totals(invoice, credited, [amount], index == 2, D("7.5"))
        taxes.append(note.tax)
        credited = Totals(credited.subtotal + note.subtotal, credited.tax + note.tax, credited.total + note.total)
    assert taxes == [D("2.50"), D("2.50"), D("2.49")]
    assert credited == invoice


amounts_strategy = st.lists(
    st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=12)


@given(amounts_strategy, st.decimals(min_value=0, max_value=30, places=3, allow_nan=False, allow_infinity=False),
       st.data())
def test_credit_notes_over_any_split_never_credit_more_than_the_invoice_and_end_exactly_at_it(amounts, rate, data):
    invoice = invoice_totals(amounts, rate)
    order = data.draw(st.permutations(range(len(amounts))))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(amounts) - 1), max_size=len(amounts) - 1))) \
        if len(amounts) > 1 else []
    groups = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(amounts)])]
    credited = Totals(D(0), D(0), D(0))
    for number, group in enumerate(groups):
        note = credit_totals(invoice, credited, [amounts[i] for i in group], number == len(groups) - 1, rate)
        assert note.subtotal >= 0 and note.tax >= 0 and note.total == note.subtotal + note.tax
        credited = Totals(credited.subtotal + note.subtotal, credited.tax + note.tax, credited.total + note.total)
        assert credited.subtotal <= invoice.subtotal
        assert credited.tax <= invoice.tax
        assert credited.total <= invoice.total
    assert credited == invoice


# --- waivers -----------------------------------------------------------------------

TODAY = date(2027, 2, 1)
ANNIVERSARY = date(2026, 1, 1)


@pytest.mark.parametrize("waived, charges, reason", [
    (False, [PostedCharge(-1, date(2027, 1, 5), True)], None),
    (False, [PostedCharge(-2, date(2027, 1, 5), False)], None),
    (False, [PostedCharge(-1, date(2026, 12, 5), True)], None),
    (True, [PostedCharge(-1, date(2027, 1, 5), True)], "waived already"),
    (False, [], "charged nothing"),
    (False, [PostedCharge(-1, date(2026, 12, 5), True, lot_closed=True)], "term this charge was drawn from is closed"),
    (False, [PostedCharge(-1, date(2026, 12, 5), True), PostedCharge(-3, date(2026, 12, 5), False)],
     "overage was charged in a term that has ended"),
])
def test_a_charge_may_be_waived_unless_waived_free_closed_or_overage_of_an_ended_term(waived, charges, reason):
    refusal = waive_refusal(waived, charges, ANNIVERSARY, TODAY)
    assert can_waive(waived, charges, ANNIVERSARY, TODAY) is (reason is None)
    if reason is None:
        assert refusal is None
    else:
        assert reason in refusal
        assert refusal == "this activity is waived already" or "credit note" in refusal or "nothing" in refusal


@given(st.lists(st.tuples(st.dates(date(2025, 1, 1), date(2028, 12, 31)), st.integers(1, 9)), max_size=8),
       st.dates(date(2026, 1, 1), date(2028, 12, 31)))
def test_a_waivable_overage_reversal_never_makes_the_current_terms_overage_negative(charges, today):
    """The reversal is dated today: it may only offset overage charged in today's term."""
    posted = [PostedCharge(-qty, day, False) for day, qty in charges if day <= today]
    if can_waive(False, posted, ANNIVERSARY, today):
        from ledger.billing import term_containing
        term = term_containing(ANNIVERSARY, today)
        assert all(term.contains(c.effective_on) for c in posted)


# --- work and usage ----------------------------------------------------------------


@pytest.mark.parametrize("entries, prepaid, overage", [
    ([("charge", -60)], 60, 0),
    ([("charge", -30), ("overage", -15)], 30, 15),
    ([("overage", -45)], 0, 45),
    ([("charge", -30), ("charge", -30), ("reversal", 60)], 60, 0),
    ([], 0, 0),
])
def test_a_work_log_splits_its_billed_minutes_into_prepaid_and_overage(entries, prepaid, overage):
    split = work_split(entries)
    assert (split.prepaid_minutes, split.overage_minutes) == (prepaid, overage)


@pytest.mark.parametrize("entries, used", [
    ([("charge", -2), ("overage", -1)], 3),
    ([("charge", -2), ("reversal", 2)], 0),
    ([("purchase", 40), ("expiry", -3), ("rollover_out", -15), ("rollover_in", 15)], 0),
    ([], 0),
])
def test_incidents_used_counts_charges_net_of_reversals_and_not_rollover_or_expiry(entries, used):
    assert incidents_used(entries) == used
