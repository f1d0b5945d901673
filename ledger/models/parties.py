"""Who: clients, users and their API tokens."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import OVERAGE_POLICIES, ROLES, Currency, Minor, Record, one_of, utcnow
from .vendor import ClientTax


class Client(Record):
    __tablename__ = "clients"
    __table_args__ = (
        one_of("overage_policy", OVERAGE_POLICIES),
        CheckConstraint("maintenance_fee_minor >= 0", name="maintenance_fee_not_negative"),
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name="tax_rate_percent"),
        CheckConstraint("payment_terms_days >= 0", name="payment_terms_not_negative"),
    )

    #: short code used in URLs and the API, unique
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: ISO 4217 code every amount of this client is in
    currency: Mapped[Currency]
    #: Babel locale for the client's documents and pages, e.g. de_DE
    locale: Mapped[str] = mapped_column(String(20))
    #: tax rate in percent, e.g. 8.25
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    #: anniversary date: terms run from here for one year at a time
    term_start: Mapped[date]
    #: annual maintenance fee in minor units of ``currency``
    maintenance_fee_minor: Mapped[Minor] = mapped_column(default=0)
    #: 'bill' overage on the invoice, or 'block' charges the balance cannot cover
    overage_policy: Mapped[str] = mapped_column(String(5), default="bill")
    #: postal address printed on documents
    address: Mapped[str] = mapped_column(Text, default="")
    #: the support plan the client is on; none means the ``standard`` plan
    support_plan_id: Mapped[int | None] = mapped_column(ForeignKey("support_plans.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # --- billing details (EN 16931 buyer identification, payment terms, named taxes) ---
    #: ISO 3166-1 alpha-2, upper case; empty until set
    country: Mapped[str] = mapped_column(String(2), default="", server_default="")
    #: VAT identifier with its country prefix, or another tax number; empty if none
    vat_id: Mapped[str] = mapped_column(String(40), default="", server_default="")
    #: addresses invoices are e-mailed to, in order
    billing_emails: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    #: days from issue to due date
    payment_terms_days: Mapped[int] = mapped_column(default=30, server_default="30")
    #: the client's purchase-order reference, printed and sent as BT-13
    purchase_order: Mapped[str] = mapped_column(String(100), default="", server_default="")
    #: intra-EU B2B: tax is 0 % and the buyer accounts for VAT (EN 16931 category AE)
    reverse_charge: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: IANA zone the client's people work in: its pages show times here, its forms read typed times here
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    #: named tax components in print order; when set, ``tax_rate`` is their sum
    taxes: Mapped[list[ClientTax]] = relationship(
        order_by="ClientTax.position", cascade="all, delete-orphan")


class User(Record):
    __tablename__ = "users"
    __table_args__ = (
        one_of("role", ROLES),
        CheckConstraint("(role = 'client') = (client_id IS NOT NULL)", name="client_users_have_client"),
    )

    #: sign-in name, stored lower case
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: werkzeug scrypt hash; empty when the user may only use API tokens
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(20))
    #: the organisation a client user belongs to (only for role 'client')
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: IANA zone the user reads times in; none means their organisation's (else UTC)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    #: language of the pages (en, de, fr, fr_CA); none means their organisation's
    language: Mapped[str | None] = mapped_column(String(10))

    client: Mapped[Client | None] = relationship()

    # Flask-Login
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(Record):
    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the token, hex; the token itself is shown once and never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters of the token, to tell tokens apart in lists
    prefix: Mapped[str] = mapped_column(String(12))
    #: what the token is for, as its owner named it
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: from this instant on the token no longer works; none means it never expires
    expires_at: Mapped[datetime | None]
    #: when the API last accepted it, to the minute (see services/users.note_use)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class LoginFailure(Record):
    """A failed sign-in, kept to slow down password guessing from one account or address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    #: the email typed, lower case (it may name no user)
    email: Mapped[str] = mapped_column(String(254))
    #: the client's IP address
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
