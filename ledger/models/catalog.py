"""What is sold: rate cards, quotes, and the billable items accepted quotes leave."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import QUOTE_STATES, QUOTE_UNITS, Currency, Minor, Record, one_of, utcnow
from .parties import Client


class RateCard(Record):
    """One version of the price list for one currency, in force from ``effective_from``."""

    __tablename__ = "rate_cards"
    __table_args__ = (
        UniqueConstraint("currency", "version"),
        UniqueConstraint("currency", "effective_from"),
        CheckConstraint("incident_price_minor >= 0", name="incident_price_not_negative"),
        CheckConstraint("overage_price_minor >= 0", name="overage_price_not_negative"),
    )

    currency: Mapped[Currency]
    #: 1, 2, 3 … per currency
    version: Mapped[int]
    effective_from: Mapped[date]
    #: price of one incident in a bundle, minor units
    incident_price_minor: Mapped[Minor]
    #: price of one incident of overage, minor units
    overage_price_minor: Mapped[Minor]
    #: default annual maintenance fee for new clients, minor units
    maintenance_fee_minor: Mapped[Minor] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[RateCardRole]] = relationship(
        order_by="RateCardRole.id", cascade="all, delete-orphan"
    )
    volume_discounts: Mapped[list[VolumeDiscount]] = relationship(
        order_by="VolumeDiscount.min_hours", cascade="all, delete-orphan"
    )


class RateCardRole(Record):
    __tablename__ = "rate_card_roles"
    __table_args__ = (UniqueConstraint("rate_card_id", "code"),)

    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"))
    #: e.g. 'analyst'
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    #: price of one hour, minor units
    hourly_minor: Mapped[Minor]
    #: price of one day (8 hours), minor units
    daily_minor: Mapped[Minor]


class VolumeDiscount(Record):
    __tablename__ = "volume_discounts"
    __table_args__ = (UniqueConstraint("rate_card_id", "min_hours"),)

    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"))
    #: hours bought in one quote from which the tier applies
    min_hours: Mapped[int]
    #: discount in percent
    percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))


class Quote(Record):
    """Professional services offered at the prices of one rate-card version, locked."""

    __tablename__ = "quotes"
    __table_args__ = (
        one_of("state", QUOTE_STATES),
        CheckConstraint("subtotal_minor >= 0 AND discount_minor >= 0", name="amounts_not_negative"),
        CheckConstraint("total_minor = subtotal_minor - discount_minor", name="total_adds_up"),
    )

    #: public number from its own series, e.g. Q-2026-00012
    number: Mapped[str] = mapped_column(String(20), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    #: the rate-card version the prices come from; a later version never changes this quote
    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"))
    state: Mapped[str] = mapped_column(String(10), default="draft")
    #: last day the quote can be accepted
    valid_until: Mapped[date]
    currency: Mapped[Currency]
    #: hours in all lines, a day counted as 8 hours, in minutes
    minutes_total: Mapped[int]
    #: volume-discount tier reached, percent
    discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    #: sums in minor units of ``currency``
    subtotal_minor: Mapped[Minor]
    discount_minor: Mapped[Minor]
    total_minor: Mapped[Minor]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    #: when it was accepted or declined, and by whom
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    client: Mapped[Client] = relationship()
    rate_card: Mapped[RateCard] = relationship()
    lines: Mapped[list[QuoteLine]] = relationship(order_by="QuoteLine.id", cascade="all, delete-orphan")


class QuoteLine(Record):
    __tablename__ = "quote_lines"
    __table_args__ = (
        one_of("unit", QUOTE_UNITS),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    #: 'hour' or 'day' (8 hours)
    unit: Mapped[str] = mapped_column(String(4))
    #: hours or days, in quarters
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    #: price of one unit from the locked card, minor units
    unit_price_minor: Mapped[Minor]
    #: quantity × unit price, rounded half-up, minor units
    amount_minor: Mapped[Minor]
    #: prepaid minutes this line credits when accepted
    minutes: Mapped[int]


class BillableItem(Record):
    """Something sold that the month's invoice bills: an accepted quote's lines and discount."""

    __tablename__ = "billable_items"
    __table_args__ = (Index("ix_billable_items_client_on", "client_id", "billable_on"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    #: the day it is billed for: the invoice of that day's month carries it
    billable_on: Mapped[date]
    description: Mapped[str] = mapped_column(String(300))
    #: units sold (hours or days), for the invoice line
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    #: minor units; negative for a discount
    unit_price_minor: Mapped[Minor]
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
