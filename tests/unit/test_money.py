"""The money type: Decimal beside a currency, integer minor units, Babel formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.money import Money, is_currency, is_locale

D = Decimal


def usd(amount: str) -> Money:
    return Money(D(amount), "USD")


# --- parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "shown"),
    [
        ("1234.50", "USD", "1234.50"),
        ("1234.5", "USD", "1234.50"),
        ("1234", "USD", "1234.00"),
        (" 12.50 ", "EUR", "12.50"),
        ("0", "USD", "0.00"),
        ("-0.10", "USD", "-0.10"),
        ("+3", "CAD", "3.00"),
        ("1234", "JPY", "1234"),
        ("1.234", "KWD", "1.234"),
        # exponent notation is a number Decimal reads exactly; it is shown in plain form
        ("1e3", "USD", "1000.00"),
        ("1.5E-1", "USD", "0.15"),
    ],
)
def test_an_amount_written_as_a_string_is_parsed_exactly(text, currency, shown):
    money = Money.parse(text, currency)
    assert money.currency == currency
    assert str(money) == shown


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("12.345", "USD"),
        ("0.001", "USD"),
        ("1e-3", "USD"),
        ("12.5", "JPY"),
        ("1.2345", "KWD"),
        ("NaN", "USD"),
        ("sNaN", "USD"),
        ("Infinity", "USD"),
        ("-inf", "USD"),
        ("", "USD"),
        ("   ", "USD"),
        ("abc", "USD"),
        ("1,000.00", "USD"),
        ("1 000", "USD"),
        ("$5", "USD"),
        ("12.50 USD", "USD"),
        ("0x10", "USD"),
    ],
)
def test_a_string_that_is_not_an_amount_with_the_currencys_decimals_is_refused(text, currency):
    with pytest.raises(ValueError):
        Money.parse(text, currency)


@pytest.mark.parametrize("text", ["1e30", "1" * 29, "123456789012345678901234567.5"])
def test_an_amount_too_large_to_handle_is_refused_as_a_value_error(text):
    # the API turns ValueError into a 422 with the field's name; anything else would be a 500
    with pytest.raises(ValueError):
        Money.parse(text, "USD")


@pytest.mark.parametrize("value", [12.5, 1250, D("12.50"), None])
def test_only_a_string_is_parsed_never_a_float_or_other_value(value):
    with pytest.raises(ValueError):
        Money.parse(value, "USD")


# --- minor units -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (123450, "USD", "1234.50"),
        (5, "USD", "0.05"),
        (-5, "USD", "-0.05"),
        (0, "EUR", "0.00"),
        (99, "EUR", "0.99"),
        (1234, "JPY", "1234"),
        (-7, "JPY", "-7"),
        (1234, "KWD", "1.234"),
    ],
)
def test_minor_units_round_trip_through_money(minor, currency, shown):
    money = Money.from_minor(minor, currency)
    assert str(money) == shown
    assert money.minor == minor
    assert Money.parse(shown, currency).minor == minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1.005", "USD", 101),
        ("1.004", "USD", 100),
        ("0.125", "EUR", 13),
        ("-1.005", "USD", -101),
        ("2.5", "JPY", 3),
        ("2.4", "JPY", 2),
    ],
)
def test_an_amount_between_minor_units_is_stored_rounded_half_up(amount, currency, minor):
    assert Money(D(amount), currency).minor == minor


# --- arithmetic --------------------------------------------------------------------


def test_amounts_in_the_same_currency_add_and_subtract_exactly():
    assert usd("0.10") + usd("0.20") == usd("0.30")
    assert usd("1234.50") - usd("0.51") == usd("1233.99")
    assert -usd("5.00") == usd("-5.00")


def test_an_amount_is_multiplied_by_a_whole_number_or_a_decimal():
    assert usd("1.10") * 3 == usd("3.30")
    assert str(usd("125.00") * D("0.95")) == "118.75"
    assert str(usd("0.10") * D("0.05")) == "0.01"  # 0.005, half-up when shown


@pytest.mark.parametrize(
    "other", [Money(D("1.00"), "EUR"), D("1.00"), 1], ids=["euros", "decimal", "int"]
)
def test_adding_or_subtracting_anything_but_money_of_the_same_currency_is_refused(other):
    with pytest.raises(TypeError):
        usd("1.00") + other
    with pytest.raises(TypeError):
        usd("1.00") - other


def test_multiplying_money_by_a_float_is_refused():
    with pytest.raises(TypeError):
        usd("1.00") * 1.5


def test_amounts_in_different_currencies_cannot_be_compared():
    with pytest.raises(TypeError):
        usd("1.00") < Money(D("2.00"), "EUR")  # noqa: B015


def test_amounts_in_the_same_currency_compare_by_value():
    assert usd("1.00") == usd("1.0")
    assert usd("1.99") < usd("2.00")
    assert max(usd("3.00"), usd("12.00")) == usd("12.00")


# --- display -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        ("1234.50", "USD", "en_US", "$1,234.50"),
        ("1234.5", "USD", "en_US", "$1,234.50"),
        ("-5", "USD", "en_US", "-$5.00"),
        ("1234.50", "EUR", "en_US", "€1,234.50"),
        ("1234.50", "EUR", "de_DE", "1.234,50\xa0€"),
        ("1234.50", "USD", "de_DE", "1.234,50\xa0$"),
        ("1234.50", "CAD", "fr_CA", "1\xa0234,50\xa0$"),
        ("1234.50", "CAD", "en_US", "CA$1,234.50"),
        ("1234", "JPY", "en_US", "¥1,234"),
    ],
)
def test_money_is_shown_as_a_person_in_the_clients_locale_reads_it(
    amount, currency, locale, shown
):
    assert Money(D(amount), currency).format(locale) == shown


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [("0.125", "USD", "$0.13"), ("1.005", "USD", "$1.01"), ("2.5", "JPY", "¥3")],
)
def test_money_is_shown_rounded_the_way_it_is_stored(amount, currency, shown):
    money = Money(D(amount), currency)
    assert money.format("en_US") == shown
    assert money.format("en_US") == Money.from_minor(money.minor, currency).format("en_US")


@pytest.mark.parametrize(
    ("code", "known"),
    [
        ("USD", True),
        ("EUR", True),
        ("JPY", True),
        ("CAD", True),
        ("usd", False),
        ("ABC", False),
        ("EURO", False),
        ("", False),
        (None, False),
        (840, False),
    ],
)
def test_is_currency_knows_iso_4217_codes_in_upper_case(code, known):
    assert is_currency(code) is known


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("en_US", True),
        ("de_DE", True),
        ("fr_CA", True),
        ("de", True),
        ("xx_YY", False),
        ("zz", False),
        ("", False),
        (None, False),
        ("en_US" * 5, False),
        ("../../etc", False),
    ],
)
def test_is_locale_knows_the_locales_babel_can_format_for(name, known):
    assert is_locale(name) is known
