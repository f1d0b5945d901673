"""Bank reconciliation rules: reading a bank's CSV export and matching its lines to invoices (pure)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.bankcsv import (
    MAX_ROWS,
    BankFileError,
    BankLine,
    OpenInvoice,
    fingerprints,
    invoice_numbers,
    match_lines,
    parse_amount,
    parse_bank_csv,
    sniff_delimiter,
)
from ledger.money import exponent

DAY = date(2026, 4, 10)


def read(text: str, currency: str = "EUR", encoding: str = "utf-8") -> list[BankLine]:
    return parse_bank_csv(text.encode(encoding), currency)


def refusal(data: bytes | str, currency: str = "EUR") -> str:
    with pytest.raises(BankFileError) as raised:
        parse_bank_csv(data.encode("utf-8") if isinstance(data, str) else data, currency)
    return " | ".join(raised.value.errors)


# --- reading the file --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("date,amount,reference\n2026-04-10,1234.50,INV-2026-00001\n", ("2026-04-10", "1234.50", "INV-2026-00001")),
    ("Buchungstag;Betrag;Verwendungszweck\n10.04.2026;1.234,50;RE INV-2026-00001\n",
     ("2026-04-10", "1234.50", "RE INV-2026-00001")),
    ("\ufeffBooking Date;Amount;Payment Reference\n10/04/2026;1234,5;x\n", ("2026-04-10", "1234.5", "x")),
    ("Value_Date,Credit,Memo\n2026-04-10,\"1,234.50\",y\n", ("2026-04-10", "1234.50", "y")),
    ("date\tamount\treference\n2026-04-10\t-12.00\tfee\n", ("2026-04-10", "-12.00", "fee")),
    ("Date;Montant;Libellé\n10.04.2026;12,00;réf\n", ("2026-04-10", "12.00", "réf")),
])
def test_common_bank_exports_are_read_whatever_their_headers_separators_and_bom(text, expected):
    [line] = read(text)

    assert (line.booked_on.isoformat(), str(line.amount), line.reference) == expected
    assert line.currency == "EUR" and line.row == 2 and len(line.fingerprint) == 64


def test_a_currency_column_overrides_the_files_currency_and_blank_rows_are_skipped():
    lines = read("date,amount,currency,reference\n2026-04-10,5,usd,a\n\n,,,\n2026-04-11,6,EUR,b\n")

    assert [(line.row, line.currency) for line in lines] == [(2, "USD"), (5, "EUR")]


@pytest.mark.parametrize(("header", "separator"), [
    ("date;amount;reference", ";"), ("date,amount,reference", ","), ("date\tamount\treference", "\t"),
    ("Datum;Betrag, brutto;Text", ";"),
])
def test_the_separator_is_the_one_the_header_holds_most(header, separator):
    assert sniff_delimiter(header) == separator


@pytest.mark.parametrize(("text", "currency", "amount"), [
    ("1234.56", "EUR", "1234.56"), ("1,234.56", "EUR", "1234.56"), ("1.234,56", "EUR", "1234.56"),
    ("-12,5", "EUR", "-12.5"), ("+7", "EUR", "7"), ("1 234,00", "EUR", "1234.00"), ("1'234.00", "CHF", "1234.00"),
    ("1200", "JPY", "1200"), ("1.500,000", "KWD", "1500.000"),
])
def test_amounts_are_read_as_banks_write_them(text, currency, amount):
    assert parse_amount(text, currency) == Decimal(amount)


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("12.345", "EUR", "at most 2 decimals"),
    ("12.5", "JPY", "at most 0 decimals"),
    ("1.2.3", "EUR", "is not an amount"),
    ("12 EUR", "EUR", "is not an amount"),
    ("=1+1", "EUR", "is not an amount"),
    ("", "EUR", "is not an amount"),
    ("1e5", "EUR", "is not an amount"),
])
def test_a_malformed_amount_or_one_with_more_decimals_than_the_currency_is_refused(text, currency, message):
    with pytest.raises(ValueError, match=message):
        parse_amount(text, currency)


@pytest.mark.parametrize(("data", "message"), [
    ("date,amount,reference\n2026-04-10,12.345,x\n", "row 2, column 'amount': '12.345': EUR amounts have at most 2"),
    ("date,amount,reference\n2026-04-10,12,x\n2026-02-30,12,y\n", "row 3, column 'date': '2026-02-30' is not a date"),
    ("date,amount,reference\n2026-04-10,abc,x\n", "row 2, column 'amount': 'abc' is not an amount"),
    ("date,amount,currency,reference\n2026-04-10,1,EURO,x\n", "row 2, column 'currency': 'EURO' is not"),
    ("date,reference\n2026-04-10,x\n", "row 1: missing column 'amount' (the header holds 'date', 'reference')"),
    ("Datum;Summe\n", "row 1: missing column 'amount', 'reference' (the header holds 'Datum', 'Summe')"),
    ("", "the file is empty"),
    ("date,amount,reference\n2026-04-10,1," + "x" * 201 + "\n", "row 2, column 'reference': at most 200"),
])
def test_bad_input_is_refused_naming_the_row_and_column(data, message):
    assert message in refusal(data)


def test_every_bad_row_is_named_not_only_the_first():
    errors = refusal("date,amount,reference\nx,1,a\n2026-04-10,y,b\n2026-04-10,1,ok\nz,w,c\n")

    assert errors.count("row 2") == 1 and "row 3" in errors and "row 4" not in errors and errors.count("row 5") == 2


def test_a_file_that_is_not_utf8_is_refused_naming_the_row_and_byte():
    data = "date;amount;reference\n10.04.2026;12,00;Müller INV-2026-00001\n".encode("latin-1")

    assert refusal(data) == "row 2: the file is not UTF-8 (byte 0xFC); export it from the bank as UTF-8"


def test_more_than_ten_thousand_rows_is_refused():
    data = "date,amount,reference\n" + "2026-04-10,1,x\n" * (MAX_ROWS + 1)

    assert "10,001 rows; at most 10,000" in refusal(data)
    assert len(read("date,amount,reference\n" + "2026-04-10,1,x\n" * MAX_ROWS)) == MAX_ROWS


def test_a_hundred_thousand_rows_are_refused_at_once_before_any_is_read():
    data = ("date,amount,reference\n" + "2026-04-10,100.00,INV-2026-00001\n" * 100_000).encode()
    started = time.perf_counter()

    message = refusal(data)

    assert "at most 2,097,152 (2 MB)" in message and time.perf_counter() - started < 0.5


def test_formula_cells_are_kept_as_text_and_flagged():
    lines = read('date,amount,reference\n2026-04-10,1,"=HYPERLINK(""http://x"",""INV-2026-00001"")"\n'
                 "2026-04-10,1,+1\n2026-04-10,1,@SUM(A1)\n2026-04-10,1,-2\n2026-04-10,1,INV-2026-00001\n")

    assert lines[0].reference == '=HYPERLINK("http://x","INV-2026-00001")'
    assert [line.looks_like_formula for line in lines] == [True, True, True, True, False]


def test_the_same_line_twice_in_a_file_gets_two_fingerprints_and_the_same_two_on_a_second_upload():
    text = "date,amount,reference\n2026-04-10,5,a\n2026-04-10,5,a\n2026-04-10,5,b\n"

    first, again = read(text), read(text.replace(",5,", ",5.00,"))

    assert len({line.fingerprint for line in first}) == 3
    assert [line.fingerprint for line in first] == [line.fingerprint for line in again]


@pytest.mark.parametrize(("reference", "numbers"), [
    ("INV-2026-00042", ["INV-2026-00042"]),
    ("payment inv-2026-00042 and INV-2026-00043", ["INV-2026-00042", "INV-2026-00043"]),
    ("RE: INV-2026-00042/INV-2026-00042", ["INV-2026-00042"]),
    ("order 2026-00042", []),
    ("", []),
])
def test_the_invoice_numbers_a_reference_names(reference, numbers):
    assert invoice_numbers(reference) == numbers


# --- matching ------------------------------------------------------------------------------------

INVOICES = {
    "INV-2026-00001": OpenInvoice("INV-2026-00001", "EUR", "open", 100_00),
    "INV-2026-00002": OpenInvoice("INV-2026-00002", "EUR", "paid", 0),
    "INV-2026-00003": OpenInvoice("INV-2026-00003", "USD", "overdue", 50_00),
    "INV-2026-00004": OpenInvoice("INV-2026-00004", "EUR", "credited", 0),
}


def line(amount: str, reference: str, currency: str = "EUR", row: int = 2) -> BankLine:
    return fingerprints([BankLine(row, DAY, Decimal(amount), currency, reference)])[0]


@pytest.mark.parametrize(("amount", "reference", "currency", "invoice", "reason"), [
    ("100.00", "INV-2026-00001", "EUR", "INV-2026-00001", ""),
    ("100", "Zahlung inv-2026-00001 danke", "EUR", "INV-2026-00001", ""),
    ("60.00", "INV-2026-00001", "EUR", "INV-2026-00001", "a part payment: 60.00 of 100.00 due"),
    ("100.01", "INV-2026-00001", "EUR", "INV-2026-00001", "more than the amount due (100.00)"),
    ("100.00", "INV-2026-00002", "EUR", "INV-2026-00002", "INV-2026-00002 is paid"),
    ("100.00", "INV-2026-00004", "EUR", "INV-2026-00004", "INV-2026-00004 is credited"),
    ("50.00", "INV-2026-00003", "EUR", "INV-2026-00003", "in EUR; INV-2026-00003 is in USD"),
    ("100.00", "INV-2026-00099", "EUR", None, "unknown invoice number INV-2026-00099"),
    ("100.00", "rent April", "EUR", None, "no invoice number in the reference"),
    ("100.00", "INV-2026-00001 INV-2026-00003", "EUR", None, "names several invoices"),
    ("-100.00", "INV-2026-00001", "EUR", None, "not money received"),
    ("100.00", "=HYPERLINK(\"x\",\"INV-2026-00001\")", "EUR", None, "spreadsheet formula"),
])
def test_a_line_is_matched_only_when_its_reference_names_an_invoice_whose_amount_due_it_pays(
        amount, reference, currency, invoice, reason):
    [proposal] = match_lines([line(amount, reference, currency)], INVOICES)

    assert proposal.invoice == invoice and reason in proposal.reason and bool(reason) != proposal.matched


def test_two_lines_paying_the_same_invoice_match_once():
    first, second = match_lines([line("100", "INV-2026-00001"), line("100", "INV-2026-00001", row=3)], INVOICES)

    assert first.matched and not second.matched and "paid by another line" in second.reason


def test_a_line_posted_before_is_not_proposed_again():
    paid = line("100", "INV-2026-00001")

    [proposal] = match_lines([paid], INVOICES, posted={paid.fingerprint})

    assert not proposal.matched and proposal.reason == "already posted from an earlier upload"


CURRENCIES = st.sampled_from(["EUR", "USD", "JPY"])
invoices = st.dictionaries(
    st.integers(1, 6).map(lambda n: f"INV-2026-{n:05d}"),
    st.tuples(CURRENCIES, st.integers(-500, 5_000)), max_size=6,
).map(lambda found: {number: OpenInvoice(number, currency, "open" if due > 0 else "paid", due)
                     for number, (currency, due) in found.items()})
bank_lines = st.lists(st.tuples(st.integers(-100, 5_000), CURRENCIES, st.integers(1, 8)), max_size=12).map(
    lambda rows: fingerprints([BankLine(row, DAY, amount * exponent(currency), currency, f"INV-2026-{n:05d}")
                               for row, (amount, currency, n) in enumerate(rows, start=2)]))


@given(invoices, bank_lines)
def test_matches_never_exceed_the_amount_due_and_never_cross_currencies(open_invoices, lines):
    proposals = match_lines(lines, open_invoices)

    matched: dict[str, int] = {}
    for proposal in proposals:
        if proposal.matched:
            invoice = open_invoices[proposal.invoice]
            assert proposal.line.currency == invoice.currency
            assert proposal.amount_minor > 0
            matched[proposal.invoice] = matched.get(proposal.invoice, 0) + proposal.amount_minor
    assert all(total <= open_invoices[number].amount_due for number, total in matched.items())
    assert len(proposals) == len(lines)
