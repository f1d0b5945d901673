"""Receivables: what clients owe, by age and per client (the statement of account).

Both are derived from invoices, credit notes and payments alone, so a statement's closing
balance is the sum of its invoices' amounts due, and the aging buckets add up to the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import billing
from ..errors import N_
from ..models import Client, Invoice, Payment
from .payments import standings

#: invoices read at a time when filtering by a derived status
CHUNK = 500


@dataclass(frozen=True)
class Receivable:
    """An invoice with something (or a credit, when negative) outstanding, and its aging bucket."""

    invoice: Invoice
    standing: billing.Standing
    bucket: str


@dataclass
class Aging:
    """One currency's receivables by bucket (minor units), and the invoices behind them."""

    currency: str
    buckets: dict[str, int]
    items: list[Receivable] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


def receivables(session: Session, as_of: date, client: Client | None = None) -> list[Receivable]:
    """Every invoice issued by ``as_of`` with a non-zero amount due on that day, by due date."""
    statement = (select(Invoice).where(Invoice.kind == "invoice", Invoice.issued_on <= as_of)
                 .options(selectinload(Invoice.client)).order_by(Invoice.due_on, Invoice.id))
    if client is not None:
        statement = statement.where(Invoice.client_id == client.id)
    invoices = session.scalars(statement).all()
    found = standings(session, invoices, as_of, until=as_of)
    return [Receivable(invoice, found[invoice.id], billing.aging_bucket(invoice.due_on, as_of))
            for invoice in invoices if found[invoice.id].amount_due]


def aging(session: Session, as_of: date) -> list[Aging]:
    """The aging report on ``as_of``: one block per currency, in currency order."""
    report: dict[str, Aging] = {}
    for item in receivables(session, as_of):
        currency = item.invoice.currency
        if currency not in report:
            report[currency] = Aging(currency, billing.age_receivables([], as_of))
        report[currency].buckets[item.bucket] += item.standing.amount_due
        report[currency].items.append(item)
    return [report[currency] for currency in sorted(report)]


# --- the statement of account ------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    """One movement of a client's account: an invoice (+), a credit note (−), a payment (−) or its reversal (+)."""

    on: date
    kind: str
    document: str
    description: str
    #: minor units, signed: positive raises what the client owes
    amount: int
    #: the description as a catalogue message and its values, for pages in the reader's language
    words: tuple[str, dict] | None = None
    #: what the document's description is made of, for translated documents: the invoice's period,
    #: the credited invoice's number, the payment's method and reference, the reversal's reason
    detail: dict = field(default_factory=dict, compare=False)


@dataclass
class Statement:
    client: Client
    start: date
    end: date
    opening: int
    lines: list[StatementLine]

    @property
    def closing(self) -> int:
        return self.opening + sum(line.amount for line in self.lines)


def statement(session: Session, client: Client, start: date, end: date) -> Statement:
    """The client's statement of account from ``start`` to ``end`` (minor units of its currency)."""
    movements = _movements(session, client, end)
    opening = sum(line.amount for line in movements if line.on < start)
    return Statement(client, start, end, opening, [line for line in movements if line.on >= start])


def _movements(session: Session, client: Client, end: date) -> list[StatementLine]:
    documents = session.scalars(select(Invoice).where(Invoice.client_id == client.id, Invoice.issued_on <= end)
                                .options(selectinload(Invoice.refers_to)))
    lines = []
    for doc in documents:
        if doc.kind == "invoice":
            words = (N_("Invoice for %(period)s"), {"period": doc.period})
            detail = {"period": doc.period}
        else:
            words = (N_("Credit note on %(number)s"), {"number": doc.refers_to.number})
            detail = {"invoice": doc.refers_to.number}
        lines.append(StatementLine(doc.issued_on, doc.kind, doc.number, words[0] % words[1], doc.total_minor,
                                   words=words, detail=detail))
    payments = session.execute(
        select(Payment, Invoice.number).join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Invoice.client_id == client.id, Payment.paid_on <= end))
    for payment, number in payments:
        kind = "reversal" if payment.reverses_id else "payment"
        words = _payment_words(payment)
        lines.append(StatementLine(payment.paid_on, kind, number, words[0] % words[1], -payment.amount_minor,
                                   words=words, detail={"method": payment.method or "",
                                                        "reference": payment.reference or "",
                                                        "reason": payment.reason or ""}))
    order = {"invoice": 0, "credit_note": 1, "payment": 2, "reversal": 3}
    return sorted(lines, key=lambda line: (line.on, order[line.kind], line.document))


def _payment_words(payment: Payment) -> tuple[str, dict]:
    """A payment's or reversal's line of the statement, as a message and its values."""
    if payment.reverses_id:
        return N_("Payment reversed: %(reason)s"), {"reason": payment.reason}
    if payment.method and payment.reference:
        return N_("Payment by %(method)s, ref. %(reference)s"), {"method": payment.method,
                                                                 "reference": payment.reference}
    if payment.method:
        return N_("Payment by %(method)s"), {"method": payment.method}
    if payment.reference:
        return N_("Payment, ref. %(reference)s"), {"reference": payment.reference}
    return N_("Payment"), {}


# --- invoices across clients, by derived status --------------------------------------------------


def find_documents(session: Session, *, status: str | None, period: str | None, client: Client | None,
                   after: int, limit: int, today: date) -> tuple[list[Invoice], dict[int, billing.Standing]]:
    """Up to ``limit`` invoices and credit notes after id ``after``, filtered; with their standings.

    The status is derived (never stored), so rows are read in chunks and filtered here, by the one rule.
    """
    statement = select(Invoice).options(selectinload(Invoice.client)).order_by(Invoice.id)
    if period:
        statement = statement.where(Invoice.period == period)
    if client is not None:
        statement = statement.where(Invoice.client_id == client.id)
    found, known = [], {}
    while len(found) < limit:
        chunk = session.scalars(statement.where(Invoice.id > after).limit(CHUNK)).all()
        if not chunk:
            break
        known.update(standings(session, chunk, today))
        found += [doc for doc in chunk if status is None or known[doc.id].status == status]
        after = chunk[-1].id
    found = found[:limit]
    return found, {doc.id: known[doc.id] for doc in found}
