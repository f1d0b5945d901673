"""``ledger verify``: check the books against themselves and the archive; a list of findings, empty when sound.

Each check reads what the database and the archive hold and compares it with
what it must be: a lot's ``remaining`` (a cache) with the sum of its entries,
each archived document with its recorded SHA-256, each number series with
1, 2, 3 … without a gap, each billed source with a single invoice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import storage
from ..businesstime import consecutive_runs
from ..models import Case, Counter, Entry, Invoice, InvoiceDocument, InvoiceSource, Lot, Quote

#: a document number: its series (``INV-2026``, ``C``) and its place in it
NUMBER = re.compile(r"^(?P<series>.+)-(?P<place>\d+)$")
#: the counter behind each series, by the series' prefix
COUNTERS = {"INV": "invoice", "CN": "credit-note", "Q": "quote", "C": "case"}


@dataclass(frozen=True)
class Finding:
    """One mismatch: which check found it, what it concerns and what is wrong."""

    check: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.message}"


def verify(session: Session, store) -> list[Finding]:
    """Every check over the whole database and archive (a store, or the invoice folder); empty when sound."""
    return [*check_lots(session), *check_documents(session, store),
            *check_number_series(session), *check_billed_once(session)]


def check_lots(session: Session) -> list[Finding]:
    """Every lot's ``remaining`` equals the sum of its entries."""
    total = func.coalesce(func.sum(Entry.quantity), 0)
    rows = session.execute(
        select(Lot.id, Lot.unit, Lot.remaining, total.label("total")).outerjoin(Entry, Entry.lot_id == Lot.id)
        .group_by(Lot.id, Lot.unit, Lot.remaining).having(Lot.remaining != total).order_by(Lot.id)).all()
    return [Finding("lots", f"lot {row.id}",
                    f"remaining is {row.remaining} {row.unit}(s) but its entries add up to {row.total}")
            for row in rows]


def check_documents(session: Session, store) -> list[Finding]:
    """Every archived document is in the store with its recorded SHA-256."""
    store = storage.as_store(store)
    rows = session.execute(select(Invoice.number, InvoiceDocument.path, InvoiceDocument.sha256)
                           .join(Invoice, Invoice.id == InvoiceDocument.invoice_id)
                           .order_by(Invoice.number)).all()
    return [finding for row in rows
            if (finding := document_finding(row.number, row.path, row.sha256, store)) is not None]


def document_finding(number: str, relative: str, sha256: str, store) -> Finding | None:
    """What is wrong with one archived document, or None when it matches its record."""
    try:
        storage.as_store(store).get(relative, sha256)
    except storage.StoreError as error:  # missing, damaged, or a store that cannot be read
        return Finding("documents", number, str(error))
    return None


def check_number_series(session: Session) -> list[Finding]:
    """Each series (invoices and credit notes per year, quotes per year, cases) runs 1, 2, 3 … gaplessly."""
    places: dict[str, list[int]] = defaultdict(list)
    for column in (Invoice.number, Quote.number, Case.number):
        for number in session.scalars(select(column)):
            match = NUMBER.match(number)
            places[match["series"] if match else "?"].append(int(match["place"]) if match else 0)
    counters = {name: value for name, value in session.execute(select(Counter.name, Counter.value))}
    findings = []
    for series, numbers in sorted(places.items()):
        findings += _series_findings(series, numbers, counters.get(_counter_name(series)))
    return findings


def _counter_name(series: str) -> str:
    prefix, _, year = series.partition("-")
    name = COUNTERS.get(prefix, prefix.lower())
    return f"{name}-{year}" if year else name


def _series_findings(series: str, numbers: list[int], counter: int | None) -> list[Finding]:
    if series == "?":
        return [Finding("numbers", "?", f"{len(numbers)} number(s) do not follow SERIES-NNNNN")]
    findings = []
    last = max(numbers)
    missing = sorted(set(range(1, last + 1)) - set(numbers))
    if missing:
        findings.append(Finding("numbers", series, f"gap: {_ranges(missing)} missing (last is {last})"))
    doubled = sorted({n for n in numbers if numbers.count(n) > 1}) if len(set(numbers)) < len(numbers) else []
    if doubled:
        findings.append(Finding("numbers", series, f"given twice: {_ranges(doubled)}"))
    if counter is not None and counter != last:
        findings.append(Finding("numbers", series, f"the counter stands at {counter} but the last number is {last}"))
    return findings


def _ranges(places: list[int]) -> str:
    """``[3, 4, 5, 9]`` → ``'3–5, 9'``."""
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in consecutive_runs(places))


def check_billed_once(session: Session) -> list[Finding]:
    """Each billed source (a bundle, an item, an overage entry, a maintenance year) is on one invoice."""
    rows = session.execute(select(InvoiceSource.key, func.count().label("times")).group_by(InvoiceSource.key)
                           .having(func.count() > 1).order_by(InvoiceSource.key)).all()
    findings = [Finding("billing", row.key, f"billed {row.times} times") for row in rows]
    return findings + _foreign_sources(session)


def _foreign_sources(session: Session) -> list[Finding]:
    """A bundle or an entry billed on another client's invoice (billed once, but to the wrong books)."""
    from ..models import Bundle

    owners = {"bundle": Bundle, "entry": Entry}
    findings = []
    rows = session.execute(select(InvoiceSource.key, Invoice.number, Invoice.client_id)
                           .join(Invoice, Invoice.id == InvoiceSource.invoice_id)).all()
    for row in rows:
        kind, _, ident = row.key.partition(":")
        model = owners.get(kind)
        if model is None or not ident.isdigit():
            continue
        owner = session.scalar(select(model.client_id).where(model.id == int(ident)))
        if owner != row.client_id:
            findings.append(Finding("billing", row.key, f"billed on {row.number}, another client's invoice"))
    return findings


def report(findings: list[Finding]) -> str:
    """The findings as a readable report, one line each, grouped by check."""
    if not findings:
        return "verify: the books are sound (lots, documents, number series, billing)"
    return "\n".join([f"verify: {len(findings)} mismatch(es) found", *(f"  {finding}" for finding in findings)])
