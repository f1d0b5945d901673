"""Payments against invoices: append-only; a mistake is undone by a reversing payment with a reason."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Currency, Minor, Record, utcnow
from .invoicing import Invoice


class Payment(Record):
    """Money received for an invoice, or (``reverses_id`` set) the reversal of such a payment.

    Triggers refuse UPDATE and DELETE: what an invoice has been paid is the sum of its payments.
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
        # a payment is positive, its reversal the same amount negative
        CheckConstraint("(reverses_id IS NULL) = (amount_minor > 0)", name="reversals_negative"),
        CheckConstraint("reverses_id IS NULL OR reason <> ''", name="reversals_have_reason"),
    )

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    #: minor units of ``currency`` (the invoice's); negative on a reversal
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    #: the day the money arrived (a reversal: the day it was recorded)
    paid_on: Mapped[date]
    #: bank transfer, card, cheque … as finance wrote it
    method: Mapped[str | None] = mapped_column(String(40))
    #: the bank's or payer's reference
    reference: Mapped[str | None] = mapped_column(String(200))
    #: the payment this one reverses (each at most once)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), unique=True)
    #: why a payment was reversed
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    invoice: Mapped[Invoice] = relationship()
    reverses: Mapped[Payment | None] = relationship(remote_side="Payment.id")


class BankLine(Record):
    """A bank transaction posted as a payment by reconciliation: its fingerprint is posted once, ever.

    Append-only like payments: uploading the same statement again finds the fingerprint and
    posts nothing.
    """

    __tablename__ = "bank_lines"

    #: SHA-256 of the line's date, amount, currency, reference and its occurrence in the file
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    booked_on: Mapped[date]
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    reference: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
