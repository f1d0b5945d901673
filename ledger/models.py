"""Typed SQLAlchemy models. Money is integer minor units beside a currency; time is UTC."""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as UTC on every engine (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a UTC offset")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Role(str, enum.Enum):
    admin = "admin"
    account_manager = "account_manager"
    finance = "finance"
    client = "client"


ROLES = tuple(r.value for r in Role)
SEVERITIES = ("critical", "major", "moderate", "minor")
OVERAGE_POLICIES = ("bill", "block")
ACTIVITY_KINDS = ("helpdesk_answer", "technician_response", "appointment", "work")
#: incident lots are bought in a bundle or carried from the previous term; minutes are prepaid
LOT_KINDS = ("purchase", "rollover", "prepaid")
UNITS = ("incident", "minute")
ENTRY_KINDS = ("purchase", "charge", "overage", "reversal", "rollover_in", "rollover_out", "expiry")
QUOTE_STATES = ("draft", "sent", "accepted", "declined", "expired")
QUOTE_UNITS = ("hour", "day")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Client(db.Model):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint(_in("overage_policy", OVERAGE_POLICIES), name="overage_policy"),
        CheckConstraint("maintenance_fee_minor >= 0", name="maintenance_fee_not_negative"),
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name="tax_rate_percent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: short code used in URLs and the API, unique
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: ISO 4217 code every amount of this client is in
    currency: Mapped[str] = mapped_column(String(3))
    #: Babel locale for the client's documents and pages, e.g. de_DE
    locale: Mapped[str] = mapped_column(String(20))
    #: tax rate in percent, e.g. 8.25
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    #: anniversary date: terms run from here for one year at a time
    term_start: Mapped[date] = mapped_column(Date)
    #: annual maintenance fee in minor units of ``currency``
    maintenance_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: 'bill' overage on the invoice, or 'block' charges the balance cannot cover
    overage_policy: Mapped[str] = mapped_column(String(5), default="bill")
    #: postal address printed on documents
    address: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("(role = 'client') = (client_id IS NOT NULL)", name="client_users_have_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sign-in name, stored lower case
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: werkzeug scrypt hash; empty when the user may only use API tokens
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(20))
    #: the organisation a client user belongs to (only for role 'client')
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client | None] = relationship()

    # Flask-Login
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the token, hex; the token itself is shown once and never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters of the token, to tell tokens apart in lists
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Counter(db.Model):
    """A number series (cases, quotes, invoices), incremented under a row lock."""

    __tablename__ = "counters"

    #: series name, e.g. 'case' or 'invoice-2026'
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: the last number given out
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class TermClose(db.Model):
    """The record that a client's term was closed: rollover and expiry were posted."""

    __tablename__ = "term_closes"
    __table_args__ = (UniqueConstraint("client_id", "term_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    #: first and last day of the closed term
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    #: incidents carried into the next term
    rolled_over: Mapped[int] = mapped_column(Integer)
    #: incidents that lapsed
    expired: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lot(db.Model):
    """Incidents (or prepaid minutes of a role) that charges draw from, FIFO by expiry."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_range"),
        CheckConstraint(_in("unit", UNITS), name="unit"),
        CheckConstraint(_in("kind", LOT_KINDS), name="kind"),
        UniqueConstraint("client_id", "unit", "rolled_from"),
        Index("ix_lots_client_unit_expiry", "client_id", "unit", "expires_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    #: 'incident', or 'minute' for prepaid professional-service time
    unit: Mapped[str] = mapped_column(String(10))
    #: rate-card role code for minute lots
    role: Mapped[str | None] = mapped_column(String(40))
    #: 'purchase', 'rollover' (incidents) or 'prepaid' (minutes)
    kind: Mapped[str] = mapped_column(String(10))
    #: what the lot held when created, in its unit
    quantity: Mapped[int] = mapped_column(Integer)
    #: what is left, in its unit; kept equal to the sum of the lot's entries
    remaining: Mapped[int] = mapped_column(Integer)
    #: first day the lot can pay for a charge
    starts_on: Mapped[date] = mapped_column(Date)
    #: last day the lot can pay for a charge (the end of its term); none for prepaid minutes
    expires_on: Mapped[date | None] = mapped_column(Date)
    #: for a rollover lot: the last day of the term it was carried from (one per client and term)
    rolled_from: Mapped[date | None] = mapped_column(Date)
    #: set when the lot's term was closed and its remainder rolled over or expired
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client] = relationship()


class Bundle(db.Model):
    """A purchase of incidents; it opens one lot."""

    __tablename__ = "bundles"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), unique=True)
    #: incidents bought
    quantity: Mapped[int] = mapped_column(Integer)
    #: price of one incident, minor units of ``currency``
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    purchased_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client] = relationship()
    lot: Mapped[Lot] = relationship()


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (CheckConstraint(_in("severity", SEVERITIES), name="severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: public case number, e.g. C-000042
    number: Mapped[str] = mapped_column(String(20), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client] = relationship()


class Activity(db.Model):
    """Something support did for a client; its charge, if any, is in the ledger entries."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint(_in("kind", ACTIVITY_KINDS), name="kind"),
        CheckConstraint("incidents_charged >= 0", name="incidents_not_negative"),
        Index("ix_activities_case_kind", "case_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(24))
    #: when it happened (an appointment's start)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: an appointment's end
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the UTC offset the times were given in, in minutes, to show them as the user wrote them
    utc_offset_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: the day the charge counts on, in the time zone the times were given in
    effective_on: Mapped[date] = mapped_column(Date)
    #: an appointment's length, whole minutes
    minutes: Mapped[int | None] = mapped_column(Integer)
    #: the technician, or the help-desk agent, who did it
    actor: Mapped[str] = mapped_column(String(120))
    #: professional-service work: the rate-card role, and the minutes billed (rounded up)
    role: Mapped[str | None] = mapped_column(String(40))
    billed_minutes: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    #: incidents the rules charged when it was logged (before any waiver)
    incidents_charged: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case | None] = relationship()
    client: Mapped[Client] = relationship()
    waiver: Mapped[Waiver | None] = relationship(back_populates="activity", uselist=False)
    entries: Mapped[list[Entry]] = relationship(back_populates="activity", order_by="Entry.id")


class Waiver(db.Model):
    """An account manager's decision that an activity charges nothing, with the reason."""

    __tablename__ = "waivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    activity: Mapped[Activity] = relationship(back_populates="waiver")


class Entry(db.Model):
    """One append-only ledger line: never updated, never deleted (triggers refuse both)."""

    __tablename__ = "entries"
    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        CheckConstraint(_in("unit", UNITS), name="unit"),
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        Index("ix_entries_client_effective", "client_id", "effective_on"),
        Index("ix_entries_client_id", "client_id", "id"),
        Index("ix_entries_lot_effective", "lot_id", "effective_on"),
        Index("ix_entries_client_lot", "client_id", "lot_id"),
        Index("ix_entries_activity", "activity_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the day the entry counts on for balances and statements
    effective_on: Mapped[date] = mapped_column(Date)
    #: 'incident', or 'minute' for professional-service time
    unit: Mapped[str] = mapped_column(String(10))
    #: rate-card role code for minute entries
    role: Mapped[str | None] = mapped_column(String(40))
    #: signed, in ``unit``: credits positive, debits negative
    quantity: Mapped[int] = mapped_column(Integer)
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


class IdempotencyRecord(db.Model):
    """The first response to a POST sent with an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    #: SHA-256 of method, path and body: the same key with another request is a conflict
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateCard(db.Model):
    """One version of the price list for one currency, in force from ``effective_from``."""

    __tablename__ = "rate_cards"
    __table_args__ = (
        UniqueConstraint("currency", "version"),
        UniqueConstraint("currency", "effective_from"),
        CheckConstraint("incident_price_minor >= 0", name="incident_price_not_negative"),
        CheckConstraint("overage_price_minor >= 0", name="overage_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    #: 1, 2, 3 … per currency
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    #: price of one incident in a bundle, minor units
    incident_price_minor: Mapped[int] = mapped_column(BigInteger)
    #: price of one incident of overage, minor units
    overage_price_minor: Mapped[int] = mapped_column(BigInteger)
    #: default annual maintenance fee for new clients, minor units
    maintenance_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[RateCardRole]] = relationship(
        order_by="RateCardRole.id", cascade="all, delete-orphan"
    )
    volume_discounts: Mapped[list[VolumeDiscount]] = relationship(
        order_by="VolumeDiscount.min_hours", cascade="all, delete-orphan"
    )


class RateCardRole(db.Model):
    __tablename__ = "rate_card_roles"
    __table_args__ = (UniqueConstraint("rate_card_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"))
    #: e.g. 'analyst'
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    #: price of one hour, minor units
    hourly_minor: Mapped[int] = mapped_column(BigInteger)
    #: price of one day (8 hours), minor units
    daily_minor: Mapped[int] = mapped_column(BigInteger)


class VolumeDiscount(db.Model):
    __tablename__ = "volume_discounts"
    __table_args__ = (UniqueConstraint("rate_card_id", "min_hours"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"))
    #: hours bought in one quote from which the tier applies
    min_hours: Mapped[int] = mapped_column(Integer)
    #: discount in percent
    percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))


class Quote(db.Model):
    """Professional services offered at the prices of one rate-card version, locked."""

    __tablename__ = "quotes"
    __table_args__ = (
        CheckConstraint(_in("state", QUOTE_STATES), name="state"),
        CheckConstraint("subtotal_minor >= 0 AND discount_minor >= 0", name="amounts_not_negative"),
        CheckConstraint("total_minor = subtotal_minor - discount_minor", name="total_adds_up"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: public number from its own series, e.g. Q-2026-00012
    number: Mapped[str] = mapped_column(String(20), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    #: the rate-card version the prices come from; a later version never changes this quote
    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"))
    state: Mapped[str] = mapped_column(String(10), default="draft")
    #: last day the quote can be accepted
    valid_until: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    #: hours in all lines, a day counted as 8 hours, in minutes
    minutes_total: Mapped[int] = mapped_column(Integer)
    #: volume-discount tier reached, percent
    discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    #: sums in minor units of ``currency``
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when it was accepted or declined, and by whom
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    client: Mapped[Client] = relationship()
    rate_card: Mapped[RateCard] = relationship()
    lines: Mapped[list[QuoteLine]] = relationship(order_by="QuoteLine.id", cascade="all, delete-orphan")


class QuoteLine(db.Model):
    __tablename__ = "quote_lines"
    __table_args__ = (
        CheckConstraint(_in("unit", QUOTE_UNITS), name="unit"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    #: 'hour' or 'day' (8 hours)
    unit: Mapped[str] = mapped_column(String(4))
    #: hours or days, in quarters
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    #: price of one unit from the locked card, minor units
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    #: quantity × unit price, rounded half-up, minor units
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    #: prepaid minutes this line credits when accepted
    minutes: Mapped[int] = mapped_column(Integer)


class BillableItem(db.Model):
    """Something sold that the month's invoice bills: an accepted quote's lines and discount."""

    __tablename__ = "billable_items"
    __table_args__ = (Index("ix_billable_items_client_on", "client_id", "billable_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    #: the day it is billed for: the invoice of that day's month carries it
    billable_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(300))
    #: units sold (hours or days), for the invoice line
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    #: minor units; negative for a discount
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppendOnlyViolation(RuntimeError):
    """Raised when code tries to change or remove a ledger entry."""


@event.listens_for(Session, "before_flush")
def _refuse_entry_changes(session: Session, _context, _instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Entry) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyViolation("ledger entries are append-only; post a reversing entry")
