"""Bank reconciliation: propose which bank lines pay which invoices, and post the confirmed ones.

The rules are in :mod:`ledger.bankcsv`; this module reads the invoices the lines name and the
fingerprints posted before, and posts each matched line as a payment beside its fingerprint, so
the same bank line is never posted twice, whatever is uploaded again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..bankcsv import BankLine, OpenInvoice, Proposal, invoice_numbers, match_lines
from ..models import BankLine as PostedLine
from ..models import Invoice, Payment, User
from . import payments

METHOD = "bank transfer"
#: rows per IN (…) list: well under SQLite's limit of bound parameters
CHUNK = 900


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def propose(session: Session, lines: list[BankLine], today: date) -> list[Proposal]:
    """Each line's proposal on ``today``: the invoice it pays, or why finance must decide."""
    numbers = sorted({number for line in lines for number in invoice_numbers(line.reference)})
    invoices = [invoice for chunk in _chunks(numbers) for invoice in session.scalars(
        select(Invoice).where(Invoice.number.in_(chunk), Invoice.kind == "invoice"))]
    found = payments.standings(session, invoices, today)
    open_invoices = {invoice.number: OpenInvoice(invoice.number, invoice.currency, found[invoice.id].status,
                                                 found[invoice.id].amount_due) for invoice in invoices}
    prints = [line.fingerprint for line in lines]
    posted = {value for chunk in _chunks(prints) for value in session.scalars(
        select(PostedLine.fingerprint).where(PostedLine.fingerprint.in_(chunk)))}
    issued = {invoice.number: invoice.issued_on for invoice in invoices}
    return [_dated(proposal, issued, today) for proposal in match_lines(lines, open_invoices, posted)]


def _dated(proposal: Proposal, issued: dict[str, date], today: date) -> Proposal:
    """A match booked in the future or before its invoice was issued is left for a decision too."""
    if not proposal.matched:
        return proposal
    line = proposal.line
    if line.booked_on > today:
        return replace(proposal, reason="booked on a day in the future")
    if line.booked_on < issued[proposal.invoice]:
        return replace(proposal, reason=f"booked before {proposal.invoice} was issued")
    return proposal


def post_matches(session: Session, lines: list[BankLine], user: User | None, today: date) -> list[Payment]:
    """Post every line that still matches (proposed again now, under the invoices' locks) as a payment."""
    posted = []
    for proposal in propose(session, lines, today):
        if not proposal.matched:
            continue
        invoice = session.scalar(select(Invoice).where(Invoice.number == proposal.invoice))
        line = proposal.line
        payment = payments.record_payment(session, invoice, line.amount, line.booked_on, METHOD,
                                          line.reference[:payments.MAX_REFERENCE], user, today=today)
        session.add(PostedLine(fingerprint=line.fingerprint, payment_id=payment.id, booked_on=line.booked_on,
                               amount_minor=proposal.amount_minor, currency=line.currency,
                               reference=line.reference, created_by_id=user.id if user else None))
        posted.append(payment)
    session.flush()
    return posted
