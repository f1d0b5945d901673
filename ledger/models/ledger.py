"""The ledger: lots, cases, activities and the append-only entries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..businesstime import CASE_STATUSES, RESOLUTIONS
from ..extensions import db
from .base import SEVERITIES, Currency, Minor, Record, one_of, utcnow
from .parties import Client

ACTIVITY_KINDS = ("helpdesk_answer", "technician_response", "appointment", "work")
#: incident lots are bought in a bundle or carried from the previous term; minutes are prepaid
LOT_KINDS = ("purchase", "rollover", "prepaid")
UNITS = ("incident", "minute")
ENTRY_KINDS = ("purchase", "charge", "overage", "reversal", "rollover_in", "rollover_out", "expiry")


class Counter(db.Model):
    """A number series (cases, quotes, invoices), incremented under a row lock."""

    __tablename__ = "counters"

    #: series name, e.g. 'case' or 'invoice-2026'
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: the last number given out
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class TermClose(Record):
    """The record that a client's term was closed: rollover and expiry were posted."""

    __tablename__ = "term_closes"
    __table_args__ = (UniqueConstraint("client_id", "term_end"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    #: first and last day of the closed term
    term_start: Mapped[date]
    term_end: Mapped[date]
    #: incidents carried into the next term
    rolled_over: Mapped[int]
    #: incidents that lapsed
    expired: Mapped[int]
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lot(Record):
    """Incidents (or prepaid minutes of a role) that charges draw from, FIFO by expiry."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_range"),
        one_of("unit", UNITS),
        one_of("kind", LOT_KINDS),
        UniqueConstraint("client_id", "unit", "rolled_from"),
        Index("ix_lots_client_unit_expiry", "client_id", "unit", "expires_on"),
    )

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    #: 'incident', or 'minute' for prepaid professional-service time
    unit: Mapped[str] = mapped_column(String(10))
    #: rate-card role code for minute lots
    role: Mapped[str | None] = mapped_column(String(40))
    #: 'purchase', 'rollover' (incidents) or 'prepaid' (minutes)
    kind: Mapped[str] = mapped_column(String(10))
    #: what the lot held when created, in its unit
    quantity: Mapped[int]
    #: what is left, in its unit; kept equal to the sum of the lot's entries
    remaining: Mapped[int]
    #: first day the lot can pay for a charge
    starts_on: Mapped[date]
    #: last day the lot can pay for a charge (the end of its term); none for prepaid minutes
    expires_on: Mapped[date | None]
    #: for a rollover lot: the last day of the term it was carried from (one per client and term)
    rolled_from: Mapped[date | None]
    #: set when the lot's term was closed and its remainder rolled over or expired
    closed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()


class Bundle(Record):
    """A purchase of incidents; it opens one lot."""

    __tablename__ = "bundles"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_not_negative"),
    )

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), unique=True)
    #: incidents bought
    quantity: Mapped[int]
    #: price of one incident, minor units of ``currency``
    unit_price_minor: Mapped[Minor]
    currency: Mapped[Currency]
    purchased_on: Mapped[date]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()
    lot: Mapped[Lot] = relationship()


class Case(Record):
    __tablename__ = "cases"
    __table_args__ = (
        one_of("severity", SEVERITIES),
        one_of("status", CASE_STATUSES),
        one_of("resolution", RESOLUTIONS),
        Index("ix_cases_client_opened", "client_id", "opened_at"),
    )

    #: public case number, e.g. C-000042
    number: Mapped[str] = mapped_column(String(20), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    #: what the opener wrote about it (the portal asks a client for it)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    severity: Mapped[str] = mapped_column(String(10))
    opened_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: where the case stands; every change is kept in case_status_changes
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    #: how it was last resolved, while it is resolved or closed
    resolution: Mapped[str | None] = mapped_column(String(24))
    #: the first technician response or appointment
    responded_at: Mapped[datetime | None]
    #: when it last became resolved (none once reopened)
    resolved_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship()


class Activity(Record):
    """Something support did for a client; its charge, if any, is in the ledger entries."""

    __tablename__ = "activities"
    __table_args__ = (
        one_of("kind", ACTIVITY_KINDS),
        CheckConstraint("incidents_charged >= 0", name="incidents_not_negative"),
        Index("ix_activities_case_kind", "case_id", "kind"),
    )

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(24))
    #: when it happened (an appointment's start)
    occurred_at: Mapped[datetime]
    #: an appointment's end
    ended_at: Mapped[datetime | None]
    #: the UTC offset the times were given in, in minutes, to show them as the user wrote them
    utc_offset_minutes: Mapped[int] = mapped_column(default=0)
    #: the day the charge counts on, in the time zone the times were given in
    effective_on: Mapped[date]
    #: an appointment's length, whole minutes
    minutes: Mapped[int | None]
    #: the technician, or the help-desk agent, who did it
    actor: Mapped[str] = mapped_column(String(120))
    #: professional-service work: the rate-card role, and the minutes billed (rounded up)
    role: Mapped[str | None] = mapped_column(String(40))
    billed_minutes: Mapped[int | None]
    note: Mapped[str] = mapped_column(Text, default="")
    #: incidents the rules charged when it was logged (before any waiver)
    incidents_charged: Mapped[int]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case | None] = relationship()
    client: Mapped[Client] = relationship()
    waiver: Mapped[Waiver | None] = relationship(back_populates="activity", uselist=False)
    entries: Mapped[list[Entry]] = relationship(back_populates="activity", order_by="Entry.id")


class Waiver(Record):
    """An account manager's decision that an activity charges nothing, with the reason."""

    __tablename__ = "waivers"

    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    activity: Mapped[Activity] = relationship(back_populates="waiver")


class Entry(Record):
    """One append-only ledger line: never updated, never deleted (triggers refuse both)."""

    __tablename__ = "entries"
    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        one_of("unit", UNITS),
        one_of("kind", ENTRY_KINDS),
        Index("ix_entries_client_effective", "client_id", "effective_on"),
        Index("ix_entries_client_id", "client_id", "id"),
        Index("ix_entries_lot_effective", "lot_id", "effective_on"),
        Index("ix_entries_client_lot", "client_id", "lot_id"),
        Index("ix_entries_activity", "activity_id"),
    )

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the day the entry counts on for balances and statements
    effective_on: Mapped[date]
    #: 'incident', or 'minute' for professional-service time
    unit: Mapped[str] = mapped_column(String(10))
    #: rate-card role code for minute entries
    role: Mapped[str | None] = mapped_column(String(40))
    #: signed, in ``unit``: credits positive, debits negative
    quantity: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    #: the lot drawn from or credited; none for overage
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    #: the entry this one reverses
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"))
    memo: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    activity: Mapped[Activity | None] = relationship(back_populates="entries")
    lot: Mapped[Lot | None] = relationship()


class IdempotencyRecord(Record):
    """The first response to a POST sent with an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    #: SHA-256 of method, path and body: the same key with another request is a conflict
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response_body: Mapped[bytes]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppendOnlyViolation(RuntimeError):
    """Raised when code tries to change or remove a ledger entry."""


@event.listens_for(Session, "before_flush")
def _refuse_entry_changes(session: Session, _context, _instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Entry) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyViolation("ledger entries are append-only; post a reversing entry")
