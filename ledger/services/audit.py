"""Who did what and when: one query per record that names its user, merged newest first.

Nothing is recorded for the audit alone: it reads the ledger's entries and the other records
that already keep the user who made them (payments, invoices and credit notes, quotes, waivers,
case status changes). Each source is asked for at most one page's worth of its newest rows past
the offset, so a page costs a bounded number of rows whatever the history's size.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from ..models import Activity, Case, CaseStatusChange, Client, Entry, Invoice, Payment, Quote, User, Waiver
from ..money import Money

#: the deepest page the audit reads: each source returns up to page × size rows
MAX_PAGE = 200


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    #: the e-mail of the user who did it; None for the system (a command, a scheduled run)
    who: str | None
    #: what happened, as a code the page words (``entry``, ``payment``, ``invoice`` …)
    action: str
    #: the detail: an entry's kind and quantity, a document's number, a reason
    detail: str
    client: str | None


@dataclass(frozen=True)
class AuditFilter:
    user_id: int | None = None
    #: half-open range of instants [start, end)
    start: datetime | None = None
    end: datetime | None = None


def _within(statement: Select, at_column, user_column, wanted: AuditFilter) -> Select:
    if wanted.user_id is not None:
        statement = statement.where(user_column == wanted.user_id)
    if wanted.start is not None:
        statement = statement.where(at_column >= wanted.start)
    if wanted.end is not None:
        statement = statement.where(at_column < wanted.end)
    return statement.order_by(at_column.desc())


def _entries(session: Session, wanted: AuditFilter, limit: int) -> Iterator[AuditLine]:
    statement = (select(Entry.posted_at, User.email, Entry.kind, Entry.quantity, Entry.unit, Entry.role, Client.code)
                 .join(Client, Client.id == Entry.client_id).outerjoin(User, User.id == Entry.created_by_id))
    for at, who, kind, quantity, unit, role, code in session.execute(
            _within(statement, Entry.posted_at, Entry.created_by_id, wanted).limit(limit)).all():
        yield AuditLine(at, who, "entry", f"{kind} {quantity:+d} {unit}{f' ({role})' if role else ''}", code)


def _payments(session: Session, wanted: AuditFilter, limit: int) -> Iterator[AuditLine]:
    statement = (select(Payment.created_at, User.email, Payment.amount_minor, Payment.currency, Invoice.number,
                        Client.code).join(Invoice, Invoice.id == Payment.invoice_id)
                 .join(Client, Client.id == Invoice.client_id).outerjoin(User, User.id == Payment.created_by_id))
    for at, who, amount, currency, number, code in session.execute(
            _within(statement, Payment.created_at, Payment.created_by_id, wanted).limit(limit)).all():
        yield AuditLine(at, who, "payment" if amount > 0 else "payment_reversal",
                        f"{number}: {Money.from_minor(amount, currency).amount} {currency}", code)


def _documents(session: Session, wanted: AuditFilter, limit: int) -> Iterator[AuditLine]:
    statement = (select(Invoice.created_at, User.email, Invoice.kind, Invoice.number, Invoice.period, Client.code)
                 .join(Client, Client.id == Invoice.client_id).outerjoin(User, User.id == Invoice.issued_by_id))
    for at, who, kind, number, period, code in session.execute(
            _within(statement, Invoice.created_at, Invoice.issued_by_id, wanted).limit(limit)).all():
        yield AuditLine(at, who, kind, f"{number} ({period})", code)


def _quotes_created(session: Session, wanted: AuditFilter, limit: int) -> Iterator[AuditLine]:
    statement = (select(Quote.created_at, User.email, Quote.number, Client.code)
                 .join(Client, Client.id == Quote.client_id).outerjoin(User, User.id == Quote.created_by_id))
    for at, who, number, code in session.execute(
            _within(statement, Quote.created_at, Quote.created_by_id, wanted).limit(limit)).all():
        yield AuditLine(at, who, "quote_created", number, code)


def _quotes_decided(session: Session, wanted: AuditFilter, limit: int) -> Iterator[AuditLine]:
    decider = aliased(User)
    statement = (select(Quote.decided_at, decider.email, Quote.state, Quote.number, Client.code)
                 .join(Client, Client.id == Quote.client_id).outerjoin(decider, decider.id == Quote.decided_by_id)
                 .where(Quote.decided_at.is_not(None)))
    for at, who, state, number, code in session.execute(
            _within(statement, Quote.decided_at, Quote.decided_by_id, wanted).limit(limit)).all():
        yield AuditLine(at, who, f"quote_{state}", number, code)


def _waivers(session: Session, wanted: AuditFilter, limit: int) -> Iterator[AuditLine]:
    statement = (select(Waiver.created_at, User.email, Waiver.reason, Client.code)
                 .join(Activity, Activity.id == Waiver.activity_id).join(Client, Client.id == Activity.client_id)
                 .outerjoin(User, User.id == Waiver.created_by_id))
    for at, who, reason, code in session.execute(
            _within(statement, Waiver.created_at, Waiver.created_by_id, wanted).limit(limit)).all():
        yield AuditLine(at, who, "waiver", reason, code)


def _status_changes(session: Session, wanted: AuditFilter, limit: int) -> Iterator[AuditLine]:
    statement = (select(CaseStatusChange.created_at, User.email, CaseStatusChange.status, Case.number, Client.code)
                 .join(Case, Case.id == CaseStatusChange.case_id).join(Client, Client.id == Case.client_id)
                 .outerjoin(User, User.id == CaseStatusChange.user_id))
    for at, who, status, number, code in session.execute(
            _within(statement, CaseStatusChange.created_at, CaseStatusChange.user_id, wanted).limit(limit)).all():
        yield AuditLine(at, who, "case_status", f"{number} → {status.replace('_', ' ')}", code)


SOURCES = (_entries, _payments, _documents, _quotes_created, _quotes_decided, _waivers, _status_changes)


def audit_page(session: Session, wanted: AuditFilter, page: int, size: int) -> tuple[list[AuditLine], bool]:
    """Page ``page`` (from 1, clamped to 1…MAX_PAGE) of the audit lines, newest first, and whether more follow."""
    page = min(max(page, 1), MAX_PAGE)
    depth = page * size + 1  # one more than the page needs, to know whether another follows
    merged = heapq.merge(*(source(session, wanted, depth) for source in SOURCES),
                         key=lambda line: line.at, reverse=True)
    lines = list(islice(merged, (page - 1) * size, page * size + 1))
    return lines[:size], len(lines) > size
