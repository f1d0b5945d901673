"""Billing identity: the vendor's own profile, and each client's named tax components."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Record, utcnow


class Vendor(Record):
    """The one seller every invoice names: a single row, its id always 1."""

    __tablename__ = "vendor"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("logo_size <= 1048576", name="logo_at_most_1_mb"),
    )

    legal_name: Mapped[str] = mapped_column(String(200), default="")
    #: postal address, one line per line, printed as text
    address: Mapped[str] = mapped_column(Text, default="")
    #: ISO 3166-1 alpha-2, upper case
    country: Mapped[str] = mapped_column(String(2), default="")
    #: VAT identifier with its country prefix (DE123456789), or another tax number (US EIN, CA BN)
    vat_id: Mapped[str] = mapped_column(String(40), default="")
    #: company registration (Handelsregister, SIREN, …)
    registration: Mapped[str] = mapped_column(String(100), default="")
    #: IBAN in its compact form, upper case
    iban: Mapped[str] = mapped_column(String(34), default="")
    bic: Mapped[str] = mapped_column(String(11), default="")
    #: bank account where there is no IBAN (routing and account number, as text)
    bank_account: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    #: the logo's bytes (PNG, JPEG or SVG, checked by content), at most 1 MB
    logo: Mapped[bytes | None]
    #: image/png, image/jpeg or image/svg+xml; empty without a logo
    logo_type: Mapped[str] = mapped_column(String(20), default="")
    #: bytes of ``logo``
    logo_size: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientTax(Record):
    """One named tax component of a client (GST 5 %, QST 9.975 %), computed on the subtotal."""

    __tablename__ = "client_taxes"
    __table_args__ = (
        CheckConstraint("rate >= 0 AND rate <= 100", name="rate_percent"),
        CheckConstraint("name <> ''", name="name_not_empty"),
        Index("ix_client_taxes_client_position", "client_id", "position", unique=True),
    )

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    #: 1, 2, 3 … in print order
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(60))
    #: percent, e.g. 9.975
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 3))
