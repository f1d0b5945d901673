"""Named tax components: each one half-up on the subtotal, on its own line."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.billing import RuleViolation, TaxComponent, TaxLine, compute_taxes

GST = TaxComponent("GST", Decimal("5"))
QST = TaxComponent("QST", Decimal("9.975"))


@pytest.mark.parametrize("subtotal, components, expected", [
    # Quebec: 5 % and 9.975 % each rounded on their own (9.975 % of 100.10 is 9.984975 → 9.98)
    ("100.10", [GST, QST], [("GST", "5", "5.01"), ("QST", "9.975", "9.98")]),
    ("1000.00", [GST, QST], [("GST", "5", "50.00"), ("QST", "9.975", "99.75")]),
    # 0.05 × 5 % = 0.0025 → 0.00; 0.10 × 5 % = 0.005 → half-up to 0.01
    ("0.10", [GST], [("GST", "5", "0.01")]),
    ("0.05", [GST], [("GST", "5", "0.00")]),
    # 9.975 % of 10.05 = 1.00248… → 1.00; of 10.08 = 1.005480 → 1.01
    ("10.08", [QST], [("QST", "9.975", "1.01")]),
    ("1234.56", [TaxComponent("Sales tax", Decimal("8.25"))], [("Sales tax", "8.25", "101.85")]),
    ("200.00", [TaxComponent("MwSt.", Decimal("19"))], [("MwSt.", "19", "38.00")]),
    ("200.00", [TaxComponent("Reverse charge", Decimal("0"))], [("Reverse charge", "0", "0.00")]),
    ("-100.10", [GST, QST], [("GST", "5", "-5.01"), ("QST", "9.975", "-9.98")]),
    ("100.10", [], []),
])
def test_each_tax_component_is_rounded_half_up_on_the_subtotal(subtotal, components, expected):
    lines = compute_taxes(Decimal(subtotal), components)
    assert lines == tuple(TaxLine(name, Decimal(rate), Decimal(amount)) for name, rate, amount in expected)


def test_a_currency_without_cents_rounds_to_whole_units():
    assert compute_taxes(Decimal("1001"), [GST], Decimal("1"))[0].amount == Decimal("50")


@pytest.mark.parametrize("component", [
    TaxComponent("", Decimal("5")),
    TaxComponent("  ", Decimal("5")),
    TaxComponent("GST", Decimal("-0.001")),
    TaxComponent("GST", Decimal("100.001")),
])
def test_a_component_without_a_name_or_outside_0_to_100_percent_is_refused(component):
    with pytest.raises(RuleViolation) as refused:
        compute_taxes(Decimal("100"), [component])
    assert refused.value.field == "taxes"


rates = st.decimals(min_value=0, max_value=100, places=3)
amounts = st.decimals(min_value=-10**9, max_value=10**9, places=2)


@given(subtotal=amounts, rates=st.lists(rates, max_size=4))
def test_every_tax_line_is_within_half_a_cent_of_the_exact_tax(subtotal, rates):
    lines = compute_taxes(subtotal, [TaxComponent(f"T{i}", rate) for i, rate in enumerate(rates)])
    assert [line.rate for line in lines] == rates
    for line in lines:
        assert line.amount == line.amount.quantize(Decimal("0.01"))
        assert abs(line.amount - subtotal * line.rate / 100) <= Decimal("0.005")


@given(subtotal=amounts, rates=st.lists(rates, max_size=4))
def test_taxes_of_a_credit_are_the_negatives_of_the_invoices_taxes(subtotal, rates):
    components = [TaxComponent(f"T{i}", rate) for i, rate in enumerate(rates)]
    charged = compute_taxes(subtotal, components)
    credited = compute_taxes(-subtotal, components)
    assert [line.amount for line in credited] == [-line.amount for line in charged]
