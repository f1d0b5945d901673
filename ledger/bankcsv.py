"""Bank reconciliation rules: read a bank's CSV export, and match its lines to invoices.

Pure functions over bytes and values (no Flask, no database): :func:`parse_bank_csv` turns an
upload into :class:`BankLine` values or refuses it with every problem named by row and column;
:func:`match_lines` proposes, for each line, the invoice it pays, or says why finance must decide.
A proposal never pays more than an invoice's amount due and never crosses currencies.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .billing import SPREADSHEET_TRIGGERS
from .money import Money, is_currency

#: an upload larger than this is refused before it is read
MAX_BYTES = 2 * 1024 * 1024
#: transactions in one upload, the header not counted
MAX_ROWS = 10_000
#: problems listed before the rest are summed up
MAX_ERRORS = 20
MAX_REFERENCE = 200
#: header names banks use for each column, compared lower-case with spaces, ``_`` and ``-`` alike
HEADERS = {
    "date": ("date", "booking date", "booked on", "transaction date", "value date", "posting date", "valuta",
             "buchungstag", "buchungsdatum", "datum", "wertstellung", "date d'opération", "date de valeur"),
    "amount": ("amount", "credit", "amount received", "value", "betrag", "umsatz", "montant", "crédit"),
    "reference": ("reference", "ref", "payment reference", "remittance information", "description",
                  "details", "memo", "purpose", "narrative", "text", "verwendungszweck", "referenz",
                  "buchungstext", "référence", "libellé", "libelle"),
    "currency": ("currency", "ccy", "währung", "waehrung", "devise"),
}
REQUIRED = ("date", "amount", "reference")
#: document numbers as printed: INV-2026-00042
DOCUMENT_NUMBER = re.compile(r"\b([A-Za-z]{2,4}-\d{4}-\d{3,})\b")
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")


class BankFileError(ValueError):
    """The upload cannot be read; ``errors`` name each problem's row and column."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class BankLine:
    """One bank transaction of an upload: ``row`` is its line in the file (the header is row 1)."""

    row: int
    booked_on: date
    amount: Decimal
    currency: str
    reference: str
    #: the same line uploaded again has the same fingerprint (see :func:`fingerprints`)
    fingerprint: str = ""

    @property
    def looks_like_formula(self) -> bool:
        """Whether a spreadsheet would run the reference as a formula (``=HYPERLINK(…)``)."""
        return self.reference[:1] in SPREADSHEET_TRIGGERS


def parse_bank_csv(data: bytes, default_currency: str) -> list[BankLine]:
    """The upload's transactions; BankFileError naming each bad row and column, or a file too big."""
    if len(data) > MAX_BYTES:
        raise BankFileError([f"the file is {len(data):,} bytes; at most {MAX_BYTES:,} (2 MB) are read"])
    lines = _decode(data).splitlines()
    if len(lines) > MAX_ROWS + 1:
        raise BankFileError([f"the file has {len(lines) - 1:,} rows; at most {MAX_ROWS:,} are read, split it"])
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise BankFileError(["the file is empty: it needs a header row with date, amount and reference"])
    reader = csv.reader(lines, delimiter=sniff_delimiter(lines[0]))
    columns = _columns(next(reader))
    found, errors = [], []
    for row_number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        try:
            found.append(_line(row_number, cells, columns, default_currency))
        except BankFileError as error:
            errors += error.errors
        if len(errors) >= MAX_ERRORS:
            errors.append("… and perhaps more; correct these first")
            break
    if errors:
        raise BankFileError(errors)
    return fingerprints(found)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        row = data[: error.start].count(b"\n") + 1
        raise BankFileError([f"row {row}: the file is not UTF-8 (byte 0x{data[error.start]:02X}); "
                             "export it from the bank as UTF-8"]) from None


def sniff_delimiter(header: str) -> str:
    """The separator of a bank export: whichever of ``;``, ``,`` and tab its header holds most."""
    return max((";", ",", "\t"), key=header.count)


def normalise_header(name: str) -> str:
    """A header as compared: lower case, spaces for ``_`` and ``-``, no surrounding quotes or space."""
    name = name.replace("\ufeff", "").strip().strip('"').lower().replace("_", " ").replace("-", " ")
    return " ".join(name.split())


def _columns(header: list[str]) -> dict[str, int]:
    names = [normalise_header(cell) for cell in header]
    columns = {}
    for field, aliases in HEADERS.items():
        for index, name in enumerate(names):
            if name in aliases and field not in columns:
                columns[field] = index
    missing = [field for field in REQUIRED if field not in columns]
    if missing:
        shown = ", ".join(repr(cell.strip()) for cell in header if cell.strip()) or "nothing"
        raise BankFileError([f"row 1: missing column {', '.join(repr(m) for m in missing)} "
                             f"(the header holds {shown[:300]})"])
    return columns


def _line(row: int, cells: list[str], columns: dict[str, int], default_currency: str) -> BankLine:
    def cell(field: str) -> str:
        index = columns.get(field)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    errors = []
    currency = (cell("currency") or default_currency).upper()
    if not is_currency(currency):
        errors.append(f"row {row}, column 'currency': {_shown(currency)} is not an ISO 4217 currency code")
    booked_on = parse_date(cell("date"))
    if booked_on is None:
        errors.append(f"row {row}, column 'date': {_shown(cell('date'))} is not a date "
                      "(write YYYY-MM-DD or DD.MM.YYYY)")
    amount = None
    if is_currency(currency):
        try:
            amount = parse_amount(cell("amount"), currency)
        except ValueError as error:
            errors.append(f"row {row}, column 'amount': {error}")
    reference = cell("reference")
    if len(reference) > MAX_REFERENCE:
        errors.append(f"row {row}, column 'reference': at most {MAX_REFERENCE} characters")
    if errors:
        raise BankFileError(errors)
    return BankLine(row, booked_on, amount, currency, reference)


def _shown(text: str) -> str:
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def parse_date(text: str) -> date | None:
    """A bank's booking date (ISO, or the European day first with ``.`` or ``/``); None if it is none."""
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    return None


def parse_amount(text: str, currency: str) -> Decimal:
    """An amount as banks write it (``1,234.56``, ``1.234,56``, ``-12,50``) in ``currency``; ValueError else.

    With both separators, the last is the decimal one; a comma alone is a decimal comma.
    Refused: anything but digits, signs and separators, and more decimals than the currency has.
    """
    raw = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not re.fullmatch(r"[+-]?(\d[\d.,]*)", raw):
        raise ValueError(f"{_shown(text)} is not an amount")
    if "," in raw and "." in raw:
        decimal_mark = "," if raw.rfind(",") > raw.rfind(".") else "."
        grouping = "." if decimal_mark == "," else ","
        raw = raw.replace(grouping, "").replace(decimal_mark, ".")
    elif "," in raw:
        raw = raw.replace(",", ".")
    if raw.count(".") > 1 or raw.endswith("."):
        raise ValueError(f"{_shown(text)} is not an amount")
    try:
        return Money.parse(raw, currency).amount
    except ValueError as error:
        raise ValueError(f"{_shown(text)}: {error}") from None


def fingerprints(lines: Iterable[BankLine]) -> list[BankLine]:
    """The lines with their fingerprints: date, amount, currency, reference and which repeat it is.

    Two identical transactions in one file are two payments, so the n-th repeat of a line is
    fingerprinted with n; uploading the file (or an overlapping export) again gives the same prints.
    """
    seen: dict[tuple, int] = {}
    result = []
    for line in lines:
        key = (line.booked_on.isoformat(), str(line.amount.normalize()), line.currency,
               " ".join(line.reference.split()).casefold())
        seen[key] = seen.get(key, 0) + 1
        digest = hashlib.sha256("\x1f".join([*key, str(seen[key])]).encode("utf-8")).hexdigest()
        result.append(BankLine(line.row, line.booked_on, line.amount, line.currency, line.reference, digest))
    return result


# --- matching --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenInvoice:
    """What matching knows of an invoice: its currency, status and amount due in minor units."""

    number: str
    currency: str
    status: str
    amount_due: int


@dataclass(frozen=True)
class Proposal:
    """A line and the invoice it pays (``reason`` empty), or why finance must decide (``invoice`` may name
    the invoice the reference points to)."""

    line: BankLine
    invoice: str | None
    #: minor units of the line's currency
    amount_minor: int
    reason: str = ""

    @property
    def matched(self) -> bool:
        return not self.reason


def minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` of ``currency`` in minor units (cents)."""
    return Money(amount, currency).minor


def invoice_numbers(reference: str) -> list[str]:
    """The document numbers a bank reference names, upper case, in order, each once."""
    return list(dict.fromkeys(number.upper() for number in DOCUMENT_NUMBER.findall(reference)))


def match_lines(lines: Iterable[BankLine], invoices: Mapping[str, OpenInvoice],
                posted: Iterable[str] = ()) -> list[Proposal]:
    """For each line, the invoice its reference names and whose amount due it pays exactly, or a reason.

    Lines already ``posted`` (fingerprints), outgoing amounts, references that look like formulas,
    unknown or several invoice numbers, another currency, a paid invoice and part or over-payments
    are left for a decision. Each invoice is paid by one line at most, so no proposal exceeds its due.
    """
    posted = set(posted)
    remaining = {number: invoice.amount_due for number, invoice in invoices.items()}
    proposals = []
    for line in lines:
        minor = minor_units(line.amount, line.currency)
        invoice, reason = _match(line, minor, invoices, remaining, posted)
        if not reason:
            remaining[invoice] -= minor
        proposals.append(Proposal(line, invoice, minor, reason))
    return proposals


def _match(line: BankLine, minor: int, invoices: Mapping[str, OpenInvoice], remaining: dict[str, int],
           posted: set[str]) -> tuple[str | None, str]:
    if line.fingerprint and line.fingerprint in posted:
        return None, "already posted from an earlier upload"
    if minor <= 0:
        return None, "not money received (zero or outgoing)"
    if line.looks_like_formula:
        return None, "the reference starts like a spreadsheet formula; check it by hand"
    named = invoice_numbers(line.reference)
    known = [number for number in named if number in invoices]
    if not known:
        return None, (f"unknown invoice number {named[0]}" if named else "no invoice number in the reference")
    if len(known) > 1:
        return None, f"names several invoices ({', '.join(known)})"
    number = known[0]
    invoice = invoices[number]
    if invoice.currency != line.currency:
        return number, f"in {line.currency}; {number} is in {invoice.currency}"
    due = remaining[number]
    if invoice.status in ("paid", "credited") or due <= 0:
        return number, f"{number} is {invoice.status if invoice.amount_due <= 0 else 'paid by another line'}"
    if minor < due:
        return number, f"a part payment: {Money.from_minor(minor, line.currency)} of " \
                       f"{Money.from_minor(due, line.currency)} due"
    if minor > due:
        return number, f"more than the amount due ({Money.from_minor(due, line.currency)})"
    return number, ""
